"""The label claim: the label party proves ≥ N rows of each class in zero knowledge; a host
checks it against its own policy, and a tampered or replayed proof is refused."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from veil.errors import ConfigError, FormatError, ProofError, VeilError
from veil.vertical.channel import HostData
from veil.vertical.claims import LabelClaimHost, prove_labels
from veil.vertical.local import in_process


def _hosts() -> list[HostData]:
    return [HostData(n, ["a"], np.zeros((1, 1)), ["f"]) for n in ("shop", "agency")]


def test_every_host_verifies_and_learns_only_the_bound() -> None:
    channel, hosts = in_process(_hosts(), {"zk": LabelClaimHost}, record=True)
    y = np.array([1] * 40 + [0] * 70)
    report = prove_labels(channel, y, minimum=35)
    assert report["verified_by"] == ["shop", "agency"] and report["bytes"] > 500
    received = b"".join(hosts["shop"].received)
    for count in (40, 70):  # the counts themselves never travel
        assert f'"{count}"'.encode() not in received and np.int64(count).tobytes() not in received


def test_too_few_rows_of_a_class_is_refused_before_anything_is_sent() -> None:
    channel, hosts = in_process(_hosts(), {"zk": LabelClaimHost}, record=True)
    with pytest.raises(ConfigError):
        prove_labels(channel, np.array([1] * 10 + [0] * 90), minimum=30)
    assert not hosts["shop"].received


def test_the_hosts_policy_sets_the_bar() -> None:
    strict = functools.partial(LabelClaimHost, minimum=60)
    channel, _ = in_process(_hosts(), {"zk": strict})
    with pytest.raises(ProofError, match="policy"):
        prove_labels(channel, np.array([1] * 40 + [0] * 70), minimum=35)


def test_a_tampered_or_replayed_proof_is_refused() -> None:
    from veil.vertical.claims import _CONTEXT, statements
    from veil.zk import claims

    channel, _ = in_process(_hosts(), {"zk": LabelClaimHost})
    counts = {"positives": 40, "negatives": 70}
    elsewhere = claims.prove(counts, statements(30), context=_CONTEXT + b"another session!")
    with pytest.raises(ProofError):  # bound to another session
        channel.call("shop", "zk.labels", {"bundle": elsewhere.to_bytes(), "minimum": 30})
    good = claims.prove(counts, statements(30), context=_CONTEXT + channel.session).to_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x01
    with pytest.raises((ProofError, FormatError, VeilError)):
        channel.call("shop", "zk.labels", {"bundle": bytes(bad), "minimum": 30})
    assert channel.call("shop", "zk.labels", {"bundle": good, "minimum": 30}) == {"verified": True}
