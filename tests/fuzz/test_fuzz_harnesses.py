"""A short real atheris run of every fuzz harness, and proof that each harness can fail.

The long campaigns (``make fuzz``, figures in docs/security.md) run for minutes per target;
here each target gets a bounded number of executions (a few seconds) in its own libFuzzer
process, and the test asserts that nothing but the target's typed errors came out.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fuzz.__main__ import run_target  # noqa: E402

import fuzz  # noqa: E402

# executions per target: a few seconds each on this machine (exec/s in docs/security.md)
RUNS = {
    "header": 20_000,
    "sealed": 4_000,
    "jwe": 10_000,
    "zk_bundle": 4_000,
    "audit": 2_000,
    "pine": 600,
    "prio3": 1_000,
    "report": 20_000,
}


def test_every_target_has_a_short_run() -> None:
    assert set(RUNS) == set(fuzz.TARGETS)


@pytest.mark.parametrize("target", fuzz.TARGETS)
def test_short_fuzz_run_only_typed_errors(target: str, tmp_path: Path) -> None:
    result = run_target(target, seconds=60, runs=RUNS[target], out_dir=tmp_path)
    log = (tmp_path / f"{target}.log").read_text()
    assert result.outcome == "clean", log[-3000:]
    assert result.executions >= RUNS[target], log[-3000:]
    assert result.coverage_edges > 0, "the target ran uninstrumented"


@pytest.fixture(scope="module")
def harnesses():
    """Every harness module, set up in this process (seeds generated once)."""
    mods = {t: importlib.import_module(f"fuzz.{t}") for t in fuzz.TARGETS}
    seeds = {t: m.setup() for t, m in mods.items()}
    return mods, seeds


def test_genuine_seeds_pass_their_harness(harnesses) -> None:
    mods, seeds = harnesses
    for target, mod in mods.items():
        assert seeds[target], target
        for seed in seeds[target]:
            fuzz.check(mod, seed)


def test_an_untyped_error_escapes(harnesses, monkeypatch) -> None:
    """The harness swallows only the typed errors: a ValueError from the parser is a finding."""
    mods, seeds = harnesses

    def broken(*args, **kwargs):
        raise ValueError("untyped")

    monkeypatch.setattr("veil.crypto.seal.open_stream", broken)
    with pytest.raises(ValueError):
        fuzz.check(mods["sealed"], seeds["sealed"][1])


def test_an_accepted_forgery_is_a_finding(harnesses, monkeypatch) -> None:
    """If verification accepted a changed bundle / report / file, the harness reports it."""
    mods, seeds = harnesses
    monkeypatch.setattr("veil.zk.claims.verify", lambda bundle, **kw: [])
    genuine = seeds["zk_bundle"][2]  # the linear / one-of / equal bundle
    forged = genuine.replace(b'"equals":2', b'"equals":3')
    assert forged != genuine
    with pytest.raises(fuzz.Finding):
        fuzz.check(mods["zk_bundle"], forged)

    monkeypatch.setattr(
        "veil.vdaf.pine.Pine64.verifier_shares_to_message",
        lambda self, agg_param, shares: _genuine_message(mods["pine"]),
    )
    monkeypatch.setattr("veil.vdaf.pine.Pine64.verify_next", lambda self, st, msg: st.out_share)
    leader = bytearray(seeds["pine"][1])
    leader[5] ^= 1  # a different measurement share element, still in the field
    with pytest.raises(fuzz.Finding):
        fuzz.check(mods["pine"], bytes(leader))


def test_an_accepted_tampered_report_is_a_finding(harnesses, monkeypatch) -> None:
    """With signatures unchecked, a report whose signature changed goes through the whole
    round: the report harness must call that a finding, as it must a tampered Helper share."""
    mods, seeds = harnesses
    monkeypatch.setattr("veil.crypto.signing.Ed25519PublicKey.verify", lambda self, s, m: True)
    report = bytearray(seeds["report"][0])
    assert report[0] == 0  # selector: a client report
    report[-1] ^= 1  # the last signature byte
    with pytest.raises(fuzz.Finding, match="tampered report was accepted"):
        fuzz.check(mods["report"], bytes(report))

    monkeypatch.setattr(
        "veil.aggregation.verification.finish", lambda vdafs, prep, lvs, hvs: (None, None)
    )
    response = seeds["report"][-1]
    assert response[0] == 3  # selector: the Helper's verify response
    forged = response.replace(b'null, "', b'null, "A', 1)
    assert forged != response
    with pytest.raises(fuzz.Finding, match="tampered Helper verifier share"):
        fuzz.check(mods["report"], forged)


def _genuine_message(pine_mod):
    vdaf = pine_mod._STATE["vdaf"]
    return vdaf.decode_verifier_message(pine_mod._STATE["genuine"]["verifier_message"])


def test_released_unauthenticated_plaintext_is_a_finding(harnesses, monkeypatch) -> None:
    """A payload decryptor that wrote before authenticating would be caught."""
    mods, seeds = harnesses
    import veil.crypto.seal as seal_mod

    def leaky(key, src, write, **kw):
        write(memoryview(b"unauthenticated"))
        raise seal_mod.IntegrityError("tampered")

    monkeypatch.setattr(seal_mod, "decrypt_stream", leaky)
    with pytest.raises(fuzz.Finding):
        fuzz.check(mods["sealed"], seeds["sealed"][1])
