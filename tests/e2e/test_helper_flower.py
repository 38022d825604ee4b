"""Verified rounds on a real Flower deployment: flower-superlink, two flower-supernodes that
reply with sealed PINE reports, the ServerApp as Leader, and ``veil helper serve`` as a
separate process — all on 127.0.0.1, all stopped at the end. One round; and a ServerApp
killed mid-round and resumed."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import veil
from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.process import HelperProcess, free_port
from veil.aggregation.round_audit import vec_hash
from veil.audit import load_keys, verify_log
from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.keys import identity_file_text, load_identities
from veil.crypto.signing import Ed25519Identity
from veil.fl import FLOWER_ENV
from veil.fl.checkpoint import SealedCheckpointer
from veil.fl.data import credit_risk
from veil.fl.flower_common import write_app
from veil.fl.flower_verified import _one
from veil.fl.pipeline import holdout
from veil.fl.sealed import seal_table

from .test_flower_deploy import Processes, _alive, _wait_port, run_until_report

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


@contextlib.contextmanager
def _deployment(tmp_path: Path, extra_env: dict | None = None, **run_config):
    """Two banks on flower-supernodes, a flower-superlink, ``veil helper serve``'s process
    and a consortium; yields (consortium config, write the app with ``run_config`` + more,
    env, logs). Every process is stopped at the end."""
    ds = credit_risk()
    train, test = holdout(ds.frame, ds.target, 0.25, seed=0)
    test.to_csv(tmp_path / "eval.csv", index=False)
    # the consortium: keys for the Leader (ServerApp), the Helper and both banks
    helper_port = free_port()
    cons = tmp_path / "consortium"
    # the consortium file fixes d: the logreg's size under the preprocessor the nodes will fit
    from veil.fl.models import ModelKind, ModelSpec, build_model
    from veil.fl.params import get_vector
    from veil.fl.pipeline import fit_preprocessor
    from veil.fl.preprocess import infer_schema

    class _T:
        def __init__(self, f):
            self.f = f

        def stats(self, schema):
            from veil.fl.preprocess import local_stats

            return local_stats(self.f, schema)

    schema = infer_schema(ds.frame, ds.target)
    parts = (train.iloc[::2], train.iloc[1::2])
    prep = fit_preprocessor([_T(p) for p in parts], schema)
    dim = get_vector(
        build_model(ModelSpec(ModelKind.LOGREG, prep.n_features, len(prep.classes), ()), seed=0)
    ).size
    out = subprocess.run(
        [sys.executable, "-m", "veil.cli", "helper", "init", "--out", str(cons), "--clients",
         "bank0,bank1", "--dimension", str(dim), "--port", str(helper_port), "--max-weight",
         "5000", "--clip-norm", "1.0", "--min-reports", "2", "--noise-multiplier", "0",
         "--allow-unsafe", "--denominator", str(len(parts[0]) + len(parts[1]))],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    cfg = ConsortiumConfig.load(cons / "consortium.toml")
    nodes = []
    for k, part in enumerate(parts):
        ident = veil.generate_identity()
        (tmp_path / f"bank{k}.identity").write_text(identity_file_text(ident))
        seal_table(part, tmp_path / f"bank{k}.sealed", [ident.recipient()])
        nodes.append((k, tmp_path / f"bank{k}.sealed", tmp_path / f"bank{k}.identity"))

    flwr_home = tmp_path / "flwr-home"
    flwr_home.mkdir()
    env = {**os.environ, **FLOWER_ENV, "FLWR_HOME": str(flwr_home), "HOME": str(tmp_path),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(extra_env or {})}  # fmt: skip
    link_port = free_port()
    (flwr_home / "config.toml").write_text(
        f'[superlink]\ndefault = "veil-e2e"\n\n[superlink.veil-e2e]\n'
        f'address = "127.0.0.1:{link_port}"\ninsecure = true\n'
    )

    def app(**more):
        return write_app(
            tmp_path / "app",
            **{"min-nodes": 2, "eval-data": str(tmp_path / "eval.csv"),
               "out": str(tmp_path / "out"), "timeout": 120.0,
               "consortium": str(cons / "consortium.toml"),
               "leader-identity": str(cons / "leader.identity"),
               "audit-log": str(tmp_path / "out" / "audit.log"), **run_config, **more},
        )  # fmt: skip

    logs = tmp_path / "logs"
    logs.mkdir()
    helper = HelperProcess(
        tmp_path / "helper",
        cfg,
        _one(cons / "helper.identity", X25519Identity),
        helper_port,
        signing=_one(cons / "helper.identity", Ed25519Identity),  # countersigns the audit log
    )
    procs = Processes(env, logs)
    try:
        helper.start()
        link = procs.start(
            "superlink",
            [str(BIN / "flower-superlink"), "--insecure", "--disable-runtime-dependency-installation",
             "--host", "127.0.0.1", "--port", str(link_port), "--database", str(tmp_path / "s.db")],
        )  # fmt: skip
        _wait_port(link_port, link)
        for k, data, ident in nodes:
            node_cfg = (
                f'data-path="{data}" identity-path="{ident}" '
                f'consortium="{cons / "consortium.toml"}" '
                f'signing-identity="{cons / f"client-bank{k}.identity"}" client-id="bank{k}"'
            )
            procs.start(
                f"supernode{k}",
                [str(BIN / "flower-supernode"), "--insecure", "--superlink",
                 f"127.0.0.1:{link_port}", "--host", "127.0.0.1", "--port", str(free_port()),
                 "--node-config", node_cfg],
            )  # fmt: skip
        yield cfg, app, env, logs
    finally:
        procs.stop()
        helper.stop()
    for p, _ in procs.procs:
        assert p.poll() is not None
    assert procs.leftovers == []


def test_flower_verified_round_with_helper_process(tmp_path):
    with _deployment(tmp_path, rounds=1, **{"record-dp-epsilon": 8.0}) as (cfg, app, env, logs):
        report_path = run_until_report(app(), env, tmp_path, logs)
    parts_rows = cfg.fixed_denominator
    report = json.loads(report_path.read_text())
    (r,) = report["rounds"]
    assert r["secure"] is True
    assert sorted(r["accepted"]) == ["bank0", "bank1"] and r["rejected"] == []
    # the fixed public denominator D (the expected Σw), not a measured total weight
    assert r["denominator"] == parts_rows and "total_weight" not in r
    assert r["metrics"]["auc"] > 0.6
    # record-level DP-SGD on both nodes: each one's spend reached the server's accountant
    assert len(r["record_dp"]) == 2 and all(
        z > 0 and k == 10 for z, _, k in r["record_dp"].values()
    )
    p = report["privacy"]
    assert 7.5 < p["epsilon"] <= 8.0 == p["target_epsilon"] and p["delta"] == 1e-5
    assert r["epsilon"] == p["epsilon"]
    # the round log: signed by the ServerApp (Leader), countersigned by the Helper process
    assert report["audit"]["records"] == 1
    (rec,) = verify_log(tmp_path / "out" / "audit.log", *load_keys(tmp_path / "out" / "audit.log"))
    assert rec.round == 1 and rec.task == cfg.task_id.hex() and len(rec.accepted) == 2
    assert rec.model_before != rec.model_after and rec.rejected == []


def test_flower_serverapp_resumes_after_a_crash(tmp_path):
    """The ServerApp (the Leader) is SIGKILLed in round 2 after the Helper released its
    share; a new ``flwr run`` with ``resume`` takes the signed checkpoint and the durable
    Leader state up: every round once in the report and the audit log, the log's chain
    unbroken, and the model of round 1 the one the crashed run checkpointed."""
    fired = tmp_path / "fired"
    crash = {"VEIL_CRASH_AT": "leader.collected@2", "VEIL_CRASH_ONCE": str(fired)}
    state = {"checkpoint": str(tmp_path / "ckpt.sealed"),
             "checkpoint-identity": str(tmp_path / "consortium" / "leader.identity"),
             "leader-store": str(tmp_path / "leader.sqlite")}  # fmt: skip
    with _deployment(tmp_path, crash, rounds=3, **state) as (_, app, env, logs):
        run = subprocess.run(
            [str(BIN / "flwr"), "run", str(app()), "veil-e2e"],
            env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        deadline = time.monotonic() + 300
        while not fired.exists() and time.monotonic() < deadline:
            time.sleep(1)
        assert fired.exists(), "the ServerApp never reached round 2"
        pid = int(fired.read_text())
        while _alive(pid) and time.monotonic() < deadline:  # killed: gone, or a zombie
            time.sleep(0.5)
        assert not (tmp_path / "out" / "report.json").exists()
        crashed = SealedCheckpointer(
            tmp_path / "ckpt.sealed",
            [],
            load_identities([tmp_path / "consortium" / "leader.identity"]),
        ).peek()
        assert crashed.round == 1
        report_path = run_until_report(app(resume=True), env, tmp_path, logs)
    report = json.loads(report_path.read_text())
    assert [r["round"] for r in report["rounds"]] == [1, 2, 3]
    assert report["rounds"][0] == crashed.history[0]  # round 1 taken up, not re-run
    assert all(sorted(r["accepted"]) == ["bank0", "bank1"] for r in report["rounds"])
    log = tmp_path / "out" / "audit.log"
    records = verify_log(log, *load_keys(log))
    assert [r.round for r in records] == [1, 2, 3] and report["audit"]["records"] == 3
    assert all(a.model_after == b.model_before for a, b in itertools.pairwise(records))
    assert records[0].model_after == vec_hash(crashed.vector)
