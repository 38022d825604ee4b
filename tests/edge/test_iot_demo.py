"""``veil demo iot`` end to end on a few hundred devices: sampling, dropouts, hostile devices
rejected with their reasons, client-level ε with amplification by sampling, the report."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from veil.aggregation.adversary import EXPECTED_REASON, Attack
from veil.errors import FormatError
from veil.scenarios import iot
from veil.scenarios.iot_devices import decode_rows, encode_rows

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("iot")
    settings = replace(iot.IotSettings(), per_round=60, hostile=8, min_reports=10)
    report = iot.run(out=out, rounds=3, devices=600, settings=settings)
    return out, report


def test_the_report_has_the_cross_device_shape(run):
    out, report = run
    assert json.loads((out / "report.json").read_text())["devices"] == report["devices"] == 600
    assert (out / "report.png").stat().st_size > 10_000
    assert len(report["rounds"]) == 3
    for r in report["rounds"]:
        asked = r["sampled"]
        assert asked == len(r["accepted"]) + len(r["rejected"]) + r["dropped"] + r["late"]
        assert len(r["accepted"]) >= 10 and r["secure"] is True
    p = report["privacy"]
    assert p["delta"] == pytest.approx(1 / 600)
    assert 0 < p["epsilon"] <= 8.0 + 1e-9
    assert p["sampling_rate"] == pytest.approx(60 / 600)
    eps = [r["epsilon"] for r in report["rounds"]]
    assert eps == sorted(eps)  # ε grows round by round
    assert report["baselines"]["non_private"]["accuracy"] > 0.5
    assert report["final"]["auc"] is not None and report["final"]["accuracy"] > 0.5


def test_every_hostile_report_is_rejected_with_its_reason(run):
    _, report = run
    attacks = {n: Attack(a) for n, a in report["config"]["secure"]["malicious"].items()}
    assert len(attacks) == 8
    seen_replay: set[str] = set()
    for r in report["rounds"]:
        for x in r["rejected"]:
            assert x["client"] in attacks, x
            assert x["reason"] == EXPECTED_REASON[attacks[x["client"]]].value
        for c in r["accepted"]:
            if c in attacks:  # only a replayer's first round is honest (nothing to replay)
                assert attacks[c] is Attack.REPLAY and c not in seen_replay
                seen_replay.add(c)


def test_device_rows_are_sealed_at_rest(run):
    out, _ = run
    files = list((out / "devices").iterdir())
    assert len(files) == 600
    blob = files[0].read_bytes()
    assert b"VDR1" not in blob  # the row header never appears in the clear


def test_rows_round_trip_and_malformed_rows_are_refused():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    y = np.array([0, 1, 1, 0])
    data = encode_rows(x, y)
    x2, y2 = decode_rows(data)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    for bad in (data[:5], data[:-1], data + b"\0", b"XXXX" + data[4:]):
        with pytest.raises(FormatError):
            decode_rows(bad)
