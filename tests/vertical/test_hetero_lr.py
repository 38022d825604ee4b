"""Hetero logistic regression: exact w.r.t. the Taylor approximation, as good as sklearn, no
plaintext label, residual, gradient or other party's feature on the wire, typed errors,
resume after a crash."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from veil.errors import CheckpointError, ConfigError, DataError, FormatError, ProtocolError
from veil.vertical import hetero_lr
from veil.vertical.channel import HostData
from veil.vertical.he import to_bytes
from veil.vertical.hetero_lr import (
    HeteroLRConfig,
    HeteroLRHost,
    plain_taylor_lr,
    predict_proba,
    train_hetero_lr,
)
from veil.vertical.local import in_process

CFG = HeteroLRConfig(epochs=2, batch_size=48, learning_rate=0.2, l2=0.01, seed=3)


def _table(n: int = 240, features: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_classification(
        n_samples=n, n_features=features, n_informative=features // 2, random_state=seed
    )
    return x, y.astype(np.float64)


def _host(x: np.ndarray, name: str = "bank") -> HostData:
    names = [f"h{j}" for j in range(x.shape[1])]
    ids = [str(i) for i in range(len(x))]
    return HostData(name, ids, x.copy(), names, aligned=np.arange(len(x)))


def _run(guest_x, host_x, y, config=CFG, scheme="ou", roles=None, **kwargs):
    channel, parties = in_process([_host(host_x)], roles or {"lr": HeteroLRHost}, **kwargs)
    model = train_hetero_lr(channel, guest_x, y, config, scheme)
    return model, channel, parties["bank"]


def _host_weights(party) -> np.ndarray:
    return party._roles["lr"].weights


def _check_equal_to_plain(scheme: str, x: np.ndarray, y: np.ndarray, config) -> None:
    g, h = x[:, : x.shape[1] // 2], x[:, x.shape[1] // 2 :]
    model, _, party = _run(g, h, y, config, scheme)
    w_g, b, w_h = plain_taylor_lr(g, h, y, config)
    np.testing.assert_allclose(model.weights, w_g, atol=1e-6)
    np.testing.assert_allclose(model.bias, b, atol=1e-6)
    np.testing.assert_allclose(_host_weights(party), w_h, atol=1e-6)
    assert np.abs(w_h).max() > 0.05 and np.abs(w_g).max() > 0.05  # it did learn
    assert [r.epoch for r in model.epochs] == list(range(config.epochs))
    assert all(r.bytes_sent > 0 and r.bytes_received > 0 for r in model.epochs)


def test_equal_to_plain_taylor_lr_ou() -> None:
    x, y = _table()
    _check_equal_to_plain("ou", x, y, CFG)


def test_equal_to_plain_taylor_lr_paillier() -> None:
    x, y = _table(n=150, features=8, seed=1)
    config = HeteroLRConfig(epochs=1, batch_size=50, learning_rate=0.3, seed=1)
    _check_equal_to_plain("paillier", x, y, config)


def test_validation_auc_close_to_sklearn() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(1).permutation(len(y))
    x, y = x[order], y[order].astype(np.float64)
    train, val = np.arange(400), np.arange(400, len(y))
    g, h = x[:, :15], x[:, 15:]
    config = HeteroLRConfig(epochs=2, batch_size=64, learning_rate=0.1)
    channel, _ = in_process([_host(h)], {"lr": HeteroLRHost})
    model = train_hetero_lr(channel, g[train], y[train], config, "ou", host_rows=train)
    secure = roc_auc_score(y[val], predict_proba(channel, model, g[val], val))
    scaler = StandardScaler().fit(x[train])
    reference = LogisticRegression(max_iter=2000).fit(scaler.transform(x[train]), y[train])
    sklearn_auc = roc_auc_score(y[val], reference.decision_function(scaler.transform(x[val])))
    assert secure >= sklearn_auc - 0.01, (secure, sklearn_auc)


# --- leakage -------------------------------------------------------------------------------


def _windows(blob: bytes, needles: np.ndarray) -> int:
    """How many of the 8-byte ``needles`` (uint64 views) occur at any offset of ``blob``."""
    found = np.zeros(len(needles), dtype=bool)
    for offset in range(8):
        usable = (len(blob) - offset) // 8 * 8
        words = np.frombuffer(blob[offset : offset + usable], dtype="<u8")
        found |= np.isin(needles, words)
    return int(found.sum())


def _as_words(values: list[np.ndarray], *, floor: float) -> np.ndarray:
    """Float64 and int64 values as 8-byte words, dropping ones too simple to tell apart from
    a coincidence (zeros, row indices, the ones column, the first batch's ±½ residuals: the
    whole-vector checks cover those)."""
    words = []
    for v in values:
        v = np.asarray(v).ravel()
        simple = v * 256 == np.round(v * 256) if v.dtype.kind == "f" else v % (1 << 16) == 0
        v = v[(np.abs(v) >= floor) & ~simple]
        dtype = "<f8" if v.dtype.kind == "f" else "<i8"
        words.append(v.astype(dtype).view("<u8"))
    return np.unique(np.concatenate(words))


@pytest.fixture
def fixed_calls(monkeypatch) -> dict[str, list[np.ndarray]]:
    """Every value either party turns into fixed point, with its int64 encoding, by caller
    (guest: ``step``/``setup``; host: ``_batch``/``_prepare``)."""
    calls: dict[str, list[np.ndarray]] = {}
    real = hetero_lr._fix

    def spy(values, bits):
        out = real(values, bits)
        caller = inspect.stack()[1].function
        calls.setdefault(caller, []).extend([np.asarray(values, dtype=np.float64), out])
        return out

    monkeypatch.setattr(hetero_lr, "_fix", spy)
    return calls


class _GradientSpy(HeteroLRHost):
    """Records the host's exact gradient integers (to prove they never travel in clear)."""

    exact: list[int] = []  # noqa: RUF012

    def _unmask(self, fields):
        masked = hetero_lr._unpack_ints(
            fields["values"], len(self.pending[1]), hetero_lr._int_width(self.kit)
        )
        self.exact.extend(v - r for v, r in zip(masked, self.pending[1], strict=True))
        return super()._unmask(fields)


def test_transcripts_hold_no_labels_residuals_gradients_or_features(fixed_calls) -> None:
    x, y = _table(n=200, features=10, seed=4)
    g, h = x[:, :5], x[:, 5:]
    _GradientSpy.exact = []
    model, channel, party = _run(g, h, y, roles={"lr": _GradientSpy}, record=True)
    host_seen = b"".join(party.received)
    guest_seen = b"".join(body for _, body in channel.received)
    assert len(host_seen) > 100_000 and len(guest_seen) > 10_000

    # the host: no label vector, no d_g, no guest feature, no plaintext gradient of its own
    for epoch in range(CFG.epochs):
        for idx in hetero_lr.batches(len(y), CFG, epoch):
            for dtype in ("<f8", "<i8", "<i4", "u1", "?"):
                assert y[idx].astype(dtype).tobytes() not in host_seen
    for dtype in ("<f8", "<i8", "u1"):
        assert y.astype(dtype).tobytes() not in host_seen
    residuals = fixed_calls["step"]  # d_g and its fixed point, every batch
    assert all(r.tobytes() not in host_seen for r in residuals)
    features = [g, *fixed_calls["setup"]]  # raw, standardised, fixed point
    residual_words = _as_words(residuals, floor=2.0**-16)
    feature_words = _as_words(features, floor=2.0**-16)
    assert len(residual_words) > 600 and len(feature_words) > 2000
    assert _windows(host_seen, residual_words) == 0
    assert _windows(host_seen, feature_words) == 0
    exact = [e for e in _GradientSpy.exact if abs(e) > 1 << 16]
    assert len(exact) > 20
    width = hetero_lr._int_width(party._roles["lr"].kit)
    for e in exact:
        assert e.to_bytes(width, "big", signed=True) not in host_seen
    grads = np.array([float(e) for e in exact])
    assert _windows(host_seen, _as_words([grads], floor=1.0)) == 0

    # the guest, while training: no host feature, no z_h or ¼ z_h per row
    host_words = _as_words([h, *fixed_calls["_prepare"], *fixed_calls["_batch"]], floor=2.0**-16)
    assert len(host_words) > 3000
    assert _windows(guest_seen, host_words) == 0
    assert len(model.epochs) == CFG.epochs


# --- failures and resume --------------------------------------------------------------------


class _CrashingHost(HeteroLRHost):
    """Fails on its ``crash_at``-th batch, as a host that dies mid-epoch."""

    crash_at = 10**9
    seen = 0

    def _batch(self, fields):
        type(self).seen += 1
        if type(self).seen == self.crash_at:
            raise DataError("disk gone")
        return super()._batch(fields)


@pytest.mark.slow
def test_host_error_is_typed_and_run_resumes_to_same_weights(tmp_path: Path) -> None:
    x, y = _table(n=192, features=10, seed=2)
    g, h = x[:, :5], x[:, 5:]
    config = HeteroLRConfig(epochs=3, batch_size=48, learning_rate=0.2, seed=5)
    straight, _, straight_host = _run(g, h, y, config)

    _CrashingHost.seen, _CrashingHost.crash_at = 0, 4 * 2 + 2  # second batch of epoch 3
    channel, _ = in_process([_host(h)], {"lr": _CrashingHost}, state_dir=tmp_path / "hosts")
    with pytest.raises(DataError, match="bank: disk gone"):
        train_hetero_lr(channel, g, y, config, "ou", checkpoint_dir=tmp_path / "guest")

    channel, parties = in_process([_host(h)], {"lr": HeteroLRHost}, state_dir=tmp_path / "hosts")
    resumed = train_hetero_lr(
        channel, g, y, config, "ou", checkpoint_dir=tmp_path / "guest", resume=True
    )
    np.testing.assert_allclose(resumed.weights, straight.weights, rtol=0, atol=1e-12)
    assert resumed.bias == pytest.approx(straight.bias, abs=1e-12)
    np.testing.assert_allclose(
        _host_weights(parties["bank"]), _host_weights(straight_host), rtol=0, atol=1e-12
    )
    assert [r.epoch for r in resumed.epochs] == [0, 1, 2]
    for restored, fresh in zip(resumed.epochs[:2], straight.epochs[:2], strict=True):
        assert restored.bytes_sent == pytest.approx(fresh.bytes_sent, rel=0.01)  # from disk


def test_resume_refuses_another_configuration(tmp_path: Path) -> None:
    x, y = _table(n=96, features=6)
    config = HeteroLRConfig(epochs=1, batch_size=48)
    channel, _ = in_process([_host(x[:, 3:])], {"lr": HeteroLRHost}, state_dir=tmp_path / "h")
    train_hetero_lr(channel, x[:, :3], y, config, "ou", checkpoint_dir=tmp_path / "g")
    other = HeteroLRConfig(epochs=2, batch_size=48, learning_rate=0.5)
    with pytest.raises(CheckpointError):
        train_hetero_lr(
            channel, x[:, :3], y, other, "ou", checkpoint_dir=tmp_path / "g", resume=True
        )


class _BadHost(HeteroLRHost):
    mode = ""

    def _batch(self, fields):
        reply = super()._batch(fields)
        k = self.weights.size
        if self.mode == "shape":
            reply["gradient"] = to_bytes(self.kit.encrypt(np.zeros((k + 1, 1), np.int64)))
        elif self.mode == "junk":
            reply["cross"] = b"\x00" * 40
        elif self.mode == "huge":
            cols = int(self.params["columns"])
            reply["cross"] = to_bytes(
                hetero_lr._encrypt_big(self.kit, [1 << 300] * cols, (1, cols))
            )
        elif self.mode == "extra":
            reply["z_h"] = np.zeros(3)
        return reply

    def _predict(self, fields):
        return {"scores": np.zeros(2)}


@pytest.mark.parametrize("mode", ["shape", "junk", "huge", "extra"])
def test_malformed_reply_is_format_error(mode: str) -> None:
    x, y = _table(n=96, features=6)
    _BadHost.mode = mode
    with pytest.raises(FormatError):
        _run(x[:, :3], x[:, 3:], y, HeteroLRConfig(epochs=1, batch_size=48), roles={"lr": _BadHost})


def test_malformed_prediction_reply_is_format_error() -> None:
    x, y = _table(n=96, features=6)
    _BadHost.mode = ""
    model, channel, _ = _run(
        x[:, :3], x[:, 3:], y, HeteroLRConfig(epochs=1, batch_size=48), roles={"lr": _BadHost}
    )
    with pytest.raises(FormatError):
        predict_proba(channel, model, x[:5, :3], np.arange(5))


def test_more_than_one_host_is_config_error() -> None:
    x, y = _table(n=96, features=9)
    channel, _ = in_process(
        [_host(x[:, 3:6], "bank"), _host(x[:, 6:], "shop")], {"lr": HeteroLRHost}
    )
    with pytest.raises(ConfigError, match="exactly one"):
        train_hetero_lr(channel, x[:, :3], y, CFG, "ou")


def test_batches_too_small_to_hide_rows_are_refused() -> None:
    x, y = _table(n=96, features=12)
    with pytest.raises(ConfigError, match="per-row"):
        _run(x[:, :6], x[:, 6:], y, HeteroLRConfig(epochs=1, batch_size=6))
    channel, _ = in_process([_host(x[:, 6:])], {"lr": HeteroLRHost})
    with pytest.raises(ProtocolError, match=r"before lr\.setup"):
        channel.call("bank", "lr.batch", {"indices": np.arange(10), "residual": b""})
