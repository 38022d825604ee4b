"""Verified aggregation inside federated training (the embedded runner's server side).

:class:`SecureAggregation` is what ``veil demo finance --secure`` plugs into
``veil.fl.runner.run_federated``: each client's update becomes a signed, HPKE-sealed PINE
report built on the client's side (:class:`ReportBuilder`); the Leader verifies them with a
Helper running as a separate process on 127.0.0.1; only the verified, noised aggregate reaches
the server optimiser. Hostile clients (``--malicious K``) each run a different attack from
:mod:`veil.aggregation.adversary`.

The runner calls ``round(r, global_vec, updates)`` with every client's raw update (in a real
deployment the clients would call :meth:`ReportBuilder.build` themselves; in this one-process
simulation the bridge plays each client's part, and never hands a plaintext update to the
Leader).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from veil.aggregation.adversary import ATTACKS, Attack, hostile_report
from veil.aggregation.client import ReportBuilder, weighted_update
from veil.aggregation.config import ConsortiumConfig, DpConfig
from veil.aggregation.dp import Accounting, PrivacyLedger, calibrate_noise_multiplier
from veil.aggregation.leader import VerifiedAggregator, finalize
from veil.aggregation.process import HelperProcess, free_port, write_private
from veil.aggregation.report import Report
from veil.aggregation.transport import HttpHelper
from veil.audit import AuditLog, Rejection, model_hash
from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.keys import identity_file_text
from veil.crypto.signing import Ed25519Identity
from veil.errors import ConfigError, ProtocolError

DEMO_CLIP_NORM = 0.3  # the finance MLP's updates measure 0.2-0.3 in L2 (docs/dp.md)
DEMO_NOISE_MULTIPLIER = 0.02


@dataclass
class SecureOptions:
    """What ``--secure`` and its companions set."""

    clip_norm: float = 1.0
    noise_multiplier: float | None = None  # None: from target_epsilon, or 0 (noise off)
    target_epsilon: float | None = None
    delta: float = 1e-5
    max_weight: int = 1 << 16
    malicious: int = 0
    min_reports: int = 1
    accounting: Accounting = Accounting.RDP

    @classmethod
    def for_demo(
        cls,
        *,
        malicious: int = 0,
        target_epsilon: float | None = None,
        delta: float = 1e-5,
        noise_multiplier: float | None = None,
        clip_norm: float | None = None,
    ) -> SecureOptions:
        """The demo's defaults (docs/dp.md, *The demo*): C = DEMO_CLIP_NORM and, unless ε or
        z is given, z = DEMO_NOISE_MULTIPLIER."""
        if target_epsilon is None and noise_multiplier is None:
            noise_multiplier = DEMO_NOISE_MULTIPLIER
        return cls(
            clip_norm=DEMO_CLIP_NORM if clip_norm is None else clip_norm,
            noise_multiplier=noise_multiplier,
            target_epsilon=target_epsilon,
            delta=delta,
            malicious=malicious,
        )

    def resolve_noise(self, rounds: int, sampling_rate: float = 1.0) -> float:
        if self.noise_multiplier is not None and self.target_epsilon is not None:
            raise ConfigError("give --noise-multiplier or --target-epsilon, not both")
        if self.noise_multiplier is not None:
            return float(self.noise_multiplier)
        if self.target_epsilon is not None:
            return calibrate_noise_multiplier(
                self.target_epsilon, self.delta, sampling_rate, rounds, self.accounting
            )
        return 0.0


@dataclass
class SecureAggregation:
    cfg: ConsortiumConfig
    leader: VerifiedAggregator
    builders: dict[str, ReportBuilder]
    ledger: PrivacyLedger
    attacks: dict[str, Attack] = field(default_factory=dict)
    helper: HelperProcess | None = None
    http: HttpHelper | None = None
    audit: AuditLog | None = None
    audit_records: int = 0
    _last: dict[str, Report] = field(default_factory=dict)
    _pending: dict | None = None  # this round's audit fields, until the new model is known

    # ----- set-up ----------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        folder: Path,
        client_names: list[str],
        dimension: int,
        rounds: int,
        opts: SecureOptions,
        audit_path: Path | None = None,
    ) -> SecureAggregation:
        """Keys for the Leader, the Helper and every client; consortium.toml; the Helper
        process on a free loopback port; the audit log at ``audit_path`` (if given), its
        records signed by the Leader and countersigned by the Helper process."""
        folder = Path(folder)
        if opts.malicious > len(client_names):
            raise ConfigError("--malicious cannot exceed the number of clients")
        z = opts.resolve_noise(rounds)
        leader_hpke, helper_hpke = X25519Identity.generate(), X25519Identity.generate()
        leader_sig, helper_sig = Ed25519Identity.generate(), Ed25519Identity.generate()
        client_keys = {n: Ed25519Identity.generate() for n in client_names}
        for name, ident in [
            ("leader.identity", leader_hpke),
            ("leader-signing.identity", leader_sig),
            *((f"{n}-signing.identity", k) for n, k in client_keys.items()),
        ]:
            write_private(folder / name, identity_file_text(ident))
        port = free_port()
        cfg = ConsortiumConfig(
            task_id=os.urandom(32),
            dimension=dimension,
            clip_norm=opts.clip_norm,
            max_weight=opts.max_weight,
            leader_hpke=leader_hpke.recipient(),
            leader_signing=leader_sig.recipient(),
            helper_hpke=helper_hpke.recipient(),
            helper_endpoint=f"http://127.0.0.1:{port}",
            helper_signing=helper_sig.recipient(),
            clients={n: k.recipient() for n, k in client_keys.items()},
            min_reports=opts.min_reports,
            max_batch=32,
            dp=DpConfig(noise_multiplier=z, delta=opts.delta, sampling_rate=1.0),
        )
        helper = HelperProcess(folder, cfg, helper_hpke, port, signing=helper_sig)
        helper.start()
        http = HttpHelper(cfg.helper_endpoint, cfg.task_id, leader_sig)
        audit = None
        if audit_path is not None:
            audit = _new_audit_log(Path(audit_path), leader_sig, cfg, http)
        leader = VerifiedAggregator(cfg, leader_hpke, http)
        # the last K clients turn hostile, each with a different attack
        hostile = client_names[len(client_names) - opts.malicious :] if opts.malicious else []
        # spread over the list, so that a few hostile clients show different failure modes
        k = max(len(hostile), 1)
        attacks = {
            n: ATTACKS[(i * len(ATTACKS) // k) % len(ATTACKS)] for i, n in enumerate(hostile)
        }
        return cls(
            cfg=cfg,
            leader=leader,
            builders={n: ReportBuilder(cfg, n, k) for n, k in client_keys.items()},
            ledger=PrivacyLedger(z, 1.0, opts.delta, opts.accounting),
            attacks=attacks,
            helper=helper,
            http=http,
            audit=audit,
        )

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.helper is not None:
            self.helper.stop()

    # ----- one round --------------------------------------------------------------------------
    def round(self, rnd: int, global_vec: np.ndarray, updates: list[tuple[str, object]]):
        """Verified aggregation of one round: (new global vector or None, record fields)."""
        self.commit(rnd - 1, global_vec)  # a round the caller did not commit: model as it is now
        g = np.asarray(global_vec, dtype=np.float64)
        reports, refused, honest = [], [], []
        shard_s = 0.0
        for name, upd in updates:
            b = self.builders.get(name)
            if b is None:
                refused.append({"client": name, "reason": "unknown_client"})
                continue
            t = time.perf_counter()
            try:
                rep, honest_u = self._client_report(rnd, name, b, g, upd)
            except Exception as exc:  # the simulated client's own failure
                # the client's own library refused to build a report (e.g. NaN in its update)
                refused.append({"client": name, "reason": f"client refused: {type(exc).__name__}"})
                continue
            finally:
                shard_s += time.perf_counter() - t
            reports.append(rep)
            if honest_u is not None:
                honest.append(honest_u)
        record: dict = {"secure": True}
        try:
            res = self.leader.aggregate_round(rnd, reports)
        except ProtocolError as exc:
            record.update(
                accepted=[], rejected=[*refused, {"client": "*", "reason": str(exc)[:200]}],
                epsilon=self.ledger.epsilon,
            )  # fmt: skip
            return None, record
        eps = self.ledger.step()
        record.update(
            accepted=res.accepted,
            rejected=refused + [{"client": c, "reason": r} for c, r in res.rejected],
            epsilon=eps if math.isfinite(eps) else None,
            bytes_per_client=res.bytes_per_client,
            helper_bytes=res.helper_bytes,
            total_weight=res.total_weight,
            time_split={
                "shard": round(shard_s, 4),
                "verify": round(res.timings["verify_s"], 4),
                "aggregate": round(res.timings["aggregate_s"], 4),
            },
        )
        if self.cfg.dp.noise_multiplier == 0:
            record["aggregate_equals_honest"] = self._exact(res, honest)
        if self.audit is not None:
            self._pending = {
                "round": rnd,
                "model_before": _vec_hash(global_vec),
                "accepted": res.accepted_ids,
                "rejected": [Rejection(rid, why) for rid, why in res.rejected_ids],
                "epsilon": record["epsilon"],
            }
        return (g + res.aggregate).astype(np.float32), record

    def commit(self, rnd: int, global_vec: np.ndarray) -> None:
        """Append round ``rnd``'s audit record, now that the new global model is known
        (the caller's server step may transform the verified aggregate, e.g. FedAdam)."""
        pending, self._pending = self._pending, None
        if self.audit is None or pending is None or pending["round"] != rnd:
            self._pending = pending
            return
        self.audit.append(task=self.cfg.task_id.hex(), model_after=_vec_hash(global_vec), **pending)
        self.audit_records += 1

    def _client_report(self, rnd, name, b: ReportBuilder, g, upd):
        delta = np.asarray(upd.vector, dtype=np.float64) - g
        weight = min(int(upd.num_examples), self.cfg.max_weight)
        attack = self.attacks.get(name)
        if attack is Attack.REPLAY and name not in self._last:
            attack = None  # nothing to replay yet: honest in its first round
        if attack is None:
            rep = b.build(rnd, delta, weight)
            self._last[name] = rep
            return rep, (weighted_update(delta, weight, self.cfg, b.clip), weight)
        rep = hostile_report(attack, b, rnd, delta, weight, earlier=self._last.get(name))
        return rep, None

    def _exact(self, res, honest) -> bool:
        """Noise off: the verified aggregate equals the honest clients' aggregate bit for bit."""
        accepted_weight = sum(w for _, w in honest)
        if not honest or accepted_weight != res.total_weight:
            return False
        v = self.leader.vdafs
        total = v.pine.agg_init(None)
        for u, _ in honest:
            total = v.pine.field.add(total, v.pine.encode_float_vec(u))
        ref = finalize(v, total, res.total_weight, self.cfg.max_weight)
        return bool(np.array_equal(ref, res.aggregate))

    def privacy(self) -> dict:
        z = self.cfg.dp.noise_multiplier
        if z == 0:
            return {"epsilon": None, "delta": None,
                    "mechanism": "none: noise off (verified aggregation without DP)"}  # fmt: skip
        s = self.ledger.summary()
        s["noise_multiplier"] = z
        s["clip_norm"] = self.cfg.clip_norm
        return s

    def describe(self) -> dict:
        return {
            "vdaf": "Pine64 (draft-chen-cfrg-vdaf-pine-02) + Prio3Sum weight",
            "num_frac_bits": self.leader.vdafs.num_frac_bits,
            "clip_norm": self.cfg.clip_norm,
            "max_weight": self.cfg.max_weight,
            "helper": self.cfg.helper_endpoint,
            "malicious": {n: a.value for n, a in self.attacks.items()},
        }


def _vec_hash(vec: np.ndarray) -> str:
    """audit.model_hash over the model's float32 parameter bytes."""
    return model_hash(np.ascontiguousarray(vec, dtype=np.float32).tobytes())


def _new_audit_log(
    path: Path, leader: Ed25519Identity, cfg: ConsortiumConfig, http: HttpHelper
) -> AuditLog:
    """One log per task: a log left by an earlier task is moved aside (with its keys), not
    overwritten, so that it still verifies on its own."""
    keys = path.with_name(path.name + ".keys.json")
    if path.exists() or keys.exists():
        stamp = time.strftime(
            "%Y%m%dT%H%M%S",
            time.gmtime(path.stat().st_mtime if path.exists() else keys.stat().st_mtime),
        )
        for f in (path, keys):
            if f.exists():
                f.rename(f.with_name(f.name.replace(path.name, f"{path.name}.{stamp}", 1)))
    assert cfg.helper_signing is not None
    return AuditLog(
        path, leader, cfg.helper_signing, lambda rec: http.countersign(rec.to_line().encode())
    )


class LazySecureAggregation:
    """Starts :class:`SecureAggregation` on the first round, when the model size is known.

    What ``veil demo finance --secure`` hands the runner: ``round(r, vec, updates)``,
    ``privacy()``, ``describe()``, ``close()``.
    """

    def __init__(
        self,
        folder: Path,
        client_names: list[str],
        rounds: int,
        opts: SecureOptions,
        audit_path: Path | None = None,
    ) -> None:
        self.folder, self.names, self.rounds, self.opts = Path(folder), client_names, rounds, opts
        self.audit_path = audit_path
        self.inner: SecureAggregation | None = None

    def round(self, rnd: int, global_vec: np.ndarray, updates: list[tuple[str, object]]):
        if self.inner is None:
            self.inner = SecureAggregation.start(
                self.folder,
                self.names,
                int(np.asarray(global_vec).size),
                self.rounds,
                self.opts,
                self.audit_path,
            )
        return self.inner.round(rnd, global_vec, updates)

    def commit(self, rnd: int, global_vec: np.ndarray) -> None:
        if self.inner is not None:
            self.inner.commit(rnd, global_vec)

    def audit_summary(self) -> dict | None:
        """What report.json links: the log's file name and its number of records."""
        if self.inner is None or self.inner.audit is None:
            return None
        return {"log": self.inner.audit.path.name, "records": self.inner.audit_records}

    def privacy(self) -> dict:
        if self.inner is None:
            return {"epsilon": None, "delta": None, "mechanism": "none: no round ran"}
        return self.inner.privacy()

    def describe(self) -> dict:
        return self.inner.describe() if self.inner is not None else {}

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()
