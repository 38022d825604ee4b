"""SecureBoost: lossless against the plain GBDT, quality, leakage, crash and resume, bad replies."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from veil.errors import ConfigError, FormatError, VeilError
from veil.vertical import wire
from veil.vertical.binning import MAX_BINS, bin_features, fit_bins
from veil.vertical.channel import HostData
from veil.vertical.gbdt import GBDTConfig, GBDTModel, fit, gradients
from veil.vertical.local import in_process
from veil.vertical.secureboost import (
    SecureBoostHost,
    latest_checkpoint,
    predict_proba,
    train_secureboost,
)

SPLIT = (3, 3, 3)  # guest, host a, host b
CONFIG = GBDTConfig(n_trees=4, max_depth=3, learning_rate=0.3)


def make_table(n: int, seed: int = 1) -> tuple[list[np.ndarray], np.ndarray]:
    x, y = make_classification(
        n_samples=n, n_features=sum(SPLIT), n_informative=5, flip_y=0.05, random_state=seed
    )
    edges = np.cumsum((0, *SPLIT))
    return [x[:, a:b] for a, b in itertools.pairwise(edges)], y


def federation(parts: list[np.ndarray], role=SecureBoostHost, **kwargs):
    n = len(parts[0])
    hosts = [
        HostData(name, [str(i) for i in range(n)], x, [f"{name}{j}" for j in range(x.shape[1])])
        for name, x in zip(("a", "b"), parts[1:], strict=True)
    ]
    for host in hosts:
        host.aligned = np.arange(n)
    return in_process(hosts, {"sb": role}, **kwargs)


def plain_model(
    parts: list[np.ndarray], y: np.ndarray, config: GBDTConfig
) -> tuple[GBDTModel, np.ndarray]:
    bins = np.hstack([bin_features(x, config.n_bins)[0] for x in parts])
    return fit(bins, y, config, [x.shape[1] for x in parts]), bins


def assert_same_trees(secure, plain) -> None:
    assert len(secure) == len(plain)
    for s, p in zip(secure, plain, strict=True):
        for name in ("party", "feature", "bin", "left", "right"):
            np.testing.assert_array_equal(getattr(s, name), getattr(p, name), err_msg=name)
        np.testing.assert_allclose(s.value, p.value, rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def table():
    return make_table(240)


@pytest.mark.parametrize("scheme", ["ou", pytest.param("paillier", marks=pytest.mark.slow)])
def test_lossless_against_plain_gbdt(table, scheme) -> None:
    parts, y = table
    config = CONFIG if scheme == "ou" else GBDTConfig(n_trees=2, max_depth=3)
    channel, _ = federation(parts)
    model = train_secureboost(channel, parts[0], y, config, scheme=scheme)
    plain, bins = plain_model(parts, y, config)
    assert_same_trees(model.trees, plain.trees)
    used = {int(p) for t in model.trees for p in t.party if p >= 0}
    assert used == {0, 1, 2}, "every party should own some split for the test to mean much"
    np.testing.assert_allclose(
        predict_proba(channel, model, parts[0]), plain.predict_proba(bins), rtol=0, atol=1e-9
    )


def test_quality_close_to_sklearn() -> None:
    parts, y = make_table(800, seed=7)
    train, test = np.arange(600), np.arange(600, 800)
    config = GBDTConfig(n_trees=6, max_depth=3, learning_rate=0.3)
    channel, hosts = federation([x[train] for x in parts])
    model = train_secureboost(channel, parts[0][train], y[train], config, scheme="ou")
    joined = np.hstack(parts)
    for party, host in zip(parts[1:], hosts.values(), strict=True):  # align the held-out rows
        host.data.ids, host.data.features = [str(i) for i in range(800)], party
        host.data.aligned = test
    secure_p = predict_proba(channel, model, parts[0][test])
    bins = [bin_features(x[train], config.n_bins)[1] for x in parts]
    plain, _ = plain_model([x[train] for x in parts], y[train], config)
    plain_p = plain.predict_proba(
        np.hstack([b.transform(x[test]) for b, x in zip(bins, parts, strict=True)])
    )
    np.testing.assert_allclose(secure_p, plain_p, rtol=0, atol=1e-9)
    hgb = HistGradientBoostingClassifier(
        max_iter=6,
        max_depth=3,
        learning_rate=0.3,
        max_bins=32,
        early_stopping=False,
        random_state=0,
    ).fit(joined[train], y[train])
    auc_hgb = roc_auc_score(y[test], hgb.predict_proba(joined[test])[:, 1])
    auc_secure = roc_auc_score(y[test], secure_p)
    assert auc_secure > 0.8
    assert abs(auc_secure - auc_hgb) <= 0.02, (auc_secure, auc_hgb)


def _words(body: bytes) -> np.ndarray:
    """Every 8-byte window of ``body`` as a little-endian uint64."""
    out = [np.frombuffer(body[o : o + 8 * ((len(body) - o) // 8)], "<u8") for o in range(8)]
    return np.concatenate(out)


def test_hosts_receive_no_label_gradient_or_other_feature(table) -> None:
    parts, y = table
    channel, hosts = federation(parts, record=True)
    model = train_secureboost(channel, parts[0], y, CONFIG, scheme="ou")
    predict_proba(channel, model, parts[0])
    plain, bins = plain_model(parts, y, CONFIG)
    secrets: list[np.ndarray] = []
    for t in range(CONFIG.n_trees):  # the exact gradients of every tree
        score = GBDTModel(
            CONFIG, plain.base_score, plain.trees[:t], plain.party_features
        ).predict_raw(bins)
        p = 1 / (1 + np.exp(-score))
        secrets += [p - y, p * (1 - p), *gradients(score, y.astype(np.float64))]
    labels = [y.astype(t).tobytes() for t in (np.int8, bool, np.int32, np.int64, np.float64)]
    for i, (name, host) in enumerate(hosts.items()):
        assert host.received, "recording is on"
        others = [x for j, x in enumerate(parts) if j != i + 1]
        needles = np.concatenate(
            [np.ascontiguousarray(s).view("<u8").ravel() for s in secrets + others]
        )
        small = needles.view("<i8")
        needles = needles[np.abs(small) > 1 << 20]  # drop small ints that any bytes may hold
        assert len(needles) > 0.9 * sum(s.size for s in secrets + others)
        assert np.isin(_words(b"pad" + secrets[0].tobytes()), needles).any()  # the search works
        for body in host.received:
            assert not np.isin(_words(body), needles).any(), f"{name} received a secret value"
            assert not any(label in body for label in labels), f"{name} received the labels"
            kind, fields = wire.decode(body)
            for value in fields.values():
                if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                    pytest.fail(f"{name} received floats in {kind}")
                assert not isinstance(value, float), f"{name} received a float in {kind}"


class CrashingHost(SecureBoostHost):
    """Fails on the third tree, as a crashed or buggy party would."""

    def handle(self, kind, fields):
        if kind == "sb.tree" and fields["tree"] == 2:
            raise RuntimeError("disk on fire")
        return super().handle(kind, fields)


@pytest.mark.slow
def test_crash_gives_typed_error_and_resume_gives_same_model(table, tmp_path) -> None:
    parts, y = table
    config = GBDTConfig(n_trees=4, max_depth=2)
    channel, _ = federation(parts, role=CrashingHost, state_dir=tmp_path / "hosts")
    with pytest.raises(VeilError, match="RuntimeError"):
        train_secureboost(channel, parts[0], y, config, scheme="ou", checkpoint_dir=tmp_path / "g")
    last = latest_checkpoint(tmp_path / "g")
    assert last is not None and last.name == "sb-000002.state"
    channel2, _ = federation(parts, state_dir=tmp_path / "hosts")
    resumed = train_secureboost(
        channel2, parts[0], y, config, scheme="ou", checkpoint_dir=tmp_path / "g", resume_from=last
    )
    channel3, _ = federation(parts)
    whole = train_secureboost(channel3, parts[0], y, config, scheme="ou")
    assert_same_trees(resumed.trees, whole.trees)
    for r, w in zip(resumed.trees, whole.trees, strict=True):
        np.testing.assert_array_equal(r.split_id, w.split_id)
    np.testing.assert_array_equal(
        predict_proba(channel2, resumed, parts[0]), predict_proba(channel3, whole, parts[0])
    )


class WrongShapeHistogram(SecureBoostHost):
    def _pack(self, cells):
        return cells  # unpacked: more ciphertexts than agreed


class WrongLengthSplit(SecureBoostHost):
    def _split(self, fields):
        reply = super()._split(fields)
        return {**reply, "left": reply["left"][:-1]}


class ExtraField(SecureBoostHost):
    def _hist(self, fields):
        return {**super()._hist(fields), "smuggled": b"x"}


@pytest.mark.parametrize("role", [WrongShapeHistogram, WrongLengthSplit, ExtraField])
def test_malformed_host_reply_is_a_format_error(table, role) -> None:
    parts, y = table
    channel, _ = federation(parts, role=role)
    with pytest.raises(FormatError):
        train_secureboost(channel, parts[0], y, GBDTConfig(n_trees=1, max_depth=2), scheme="ou")


def test_binning_cuts_match_bins_and_limits() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=500), rng.integers(0, 3, 500), np.zeros(500)])
    bins, binning = bin_features(x, 16)
    assert bins.dtype == np.int8 and bins.flags.c_contiguous
    assert bins[:, 0].max() == 15 and bins[:, 1].max() == 2 and bins[:, 2].max() == 0
    for b in range(len(binning.cuts[0])):
        np.testing.assert_array_equal(bins[:, 0] <= b, x[:, 0] <= binning.threshold(0, b))
    with pytest.raises(ConfigError):
        fit_bins(x, MAX_BINS + 1)
    with pytest.raises(ConfigError):
        GBDTConfig(n_bins=200)
