"""Hetero logistic regression between the label party and one other party, no third party.

The two-party, guest-key protocol of Hardy et al. (2017) and FATE's hetero-LR with the
second-order Taylor expansion σ(z) ≈ ½ + z/4, so the residual d = ¼(z_g + z_h) + ½ − y is
linear and sums under additive HE (docs/vertical.md, *Hetero logistic regression*). The
guest sends its key and, once, ``[[A]]`` (its standardised columns and a ones column); per
batch it sends ``[[d_g]]`` and the host returns ``[[X_hᵀ d + r]]`` (r uniform, 64 bits wider
than any value) and ``[[Aᵀ z_h]]``, both re-randomised; the guest returns the decrypted
masked gradient. The host sees ciphertexts and its own gradient; the guest sees a uniformly
masked value and its own gradient's cross term. Two parties only: a third party's gradient
would need the other hosts' z_j, which only another key holder could combine.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from heu import phe

from veil.crypto.seal import atomic_write
from veil.errors import CheckpointError, ConfigError, DataError, FormatError, ProtocolError
from veil.vertical import wire
from veil.vertical.channel import Channel, HostData, check_reply
from veil.vertical.he import CipherMatrix, PublicKit, SecretKit, to_bytes
from veil.vertical.products import signed_matmul
from veil.vertical.shares import host_lr_table
from veil.vertical.wire import Fields

PROTOCOL = "lr"
#: statistical hiding of a masked gradient: the mask is this many bits wider than the value
MASK_MARGIN_BITS = 64
#: bound on one residual entry: the guest's and host's int64 fixed-point parts summed
_RESIDUAL_BITS = 64
_STATE_FILE = "lr-guest.state"


@dataclass(frozen=True)
class HeteroLRConfig:
    """Mini-batch gradient descent on the Taylor-approximated logistic loss.

    ``frac_bits`` is the fixed-point scale 2^f of features and residuals; products carry
    2^2f and are decrypted exactly, so rounding is ~2^-f per value.
    """

    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 0.15
    l2: float = 0.0
    seed: int = 0
    frac_bits: int = 24

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ConfigError("hetero LR needs epochs ≥ 1 and batch_size ≥ 2")
        if not (0 < self.learning_rate < 100 and 0 <= self.l2 < 100):
            raise ConfigError("hetero LR needs 0 < learning_rate < 100 and 0 ≤ l2 < 100")
        if not 8 <= self.frac_bits <= 40:
            raise ConfigError("frac_bits must be within 8..40")


@dataclass
class EpochRecord:
    epoch: int
    seconds: float
    bytes_sent: int
    bytes_received: int


@dataclass
class HeteroLRModel:
    """The guest's half of the model (the host keeps its own weights)."""

    host: str
    weights: np.ndarray  # on the guest's standardised columns
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    config: HeteroLRConfig
    scheme: str
    epochs: list[EpochRecord] = field(default_factory=list)
    setup_seconds: float = 0.0
    setup_bytes: int = 0


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and scale (a constant column keeps scale 1). Each party uses its own."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


def batches(n: int, config: HeteroLRConfig, epoch: int) -> list[np.ndarray]:
    """The epoch's mini-batches: a permutation seeded by (seed, epoch), split into
    near-equal parts so no batch is much smaller than ``batch_size`` (see _check_sizes)."""
    order = np.random.default_rng([config.seed, epoch]).permutation(n)
    return np.array_split(order, max(1, math.ceil(n / config.batch_size)))


def plain_taylor_lr(
    guest_X: np.ndarray, host_X: np.ndarray, y: np.ndarray, config: HeteroLRConfig
) -> tuple[np.ndarray, float, np.ndarray]:
    """The same training on the joined table in the clear: (guest weights, bias, host
    weights). The secure protocol must match it to fixed-point rounding."""
    mean, scale = standardise(guest_X)
    a = np.hstack([(guest_X - mean) / scale, np.ones((len(guest_X), 1))])
    hm, hs = standardise(host_X)
    h = (host_X - hm) / hs
    w, v = np.zeros(a.shape[1]), np.zeros(h.shape[1])
    decay = np.r_[np.ones(a.shape[1] - 1), 0.0]  # no L2 on the bias
    for epoch in range(config.epochs):
        for idx in batches(len(y), config, epoch):
            d = a[idx] @ w / 4 + 0.5 - y[idx] + h[idx] @ v / 4
            grad_w = a[idx].T @ d / len(idx) + config.l2 * decay * w
            grad_v = h[idx].T @ d / len(idx) + config.l2 * v
            w, v = w - config.learning_rate * grad_w, v - config.learning_rate * grad_v
    return w[:-1], float(w[-1]), v


def _fix(values: np.ndarray, bits: int) -> np.ndarray:
    """Fixed point at scale 2^bits as int64; refuses values beyond ±2^62."""
    scaled = np.round(np.ldexp(np.asarray(values, dtype=np.float64), bits))
    if scaled.size and not np.all(np.abs(scaled) < 2.0**62):
        raise DataError("hetero LR: a value is too large for fixed point (diverging?)")
    return scaled.astype(np.int64)


def _bound_bits(kit: PublicKit) -> int:
    return int(str(kit.kit.public_key().plaintext_bound())).bit_length()


def _int_width(kit: PublicKit) -> int:
    """Bytes per signed integer of the plaintext space (how unmasked values travel)."""
    return _bound_bits(kit) // 8 + 2


def _pack_ints(values: list[int], width: int) -> bytes:
    return b"".join(int(v).to_bytes(width, "big", signed=True) for v in values)


def _unpack_ints(data: bytes, count: int, width: int) -> list[int]:
    if len(data) != count * width:
        raise FormatError(f"expected {count} integers of {width} bytes")
    step = range(0, len(data), width)
    return [int.from_bytes(data[i : i + width], "big", signed=True) for i in step]


def _encrypt_big(kit: PublicKit, values: list[int], shape: tuple[int, int]) -> CipherMatrix:
    """Fresh encryptions of Python integers beyond int64 (the masks)."""
    encoder = phe.BigintEncoder(kit.kit.get_schema())
    plain = kit.kit.array(np.array(values, dtype=object).reshape(shape), encoder)
    return kit.kit.encryptor().encrypt(plain)


def _params(fields: Fields) -> dict[str, float | int]:
    """The run parameters the host keeps (from lr.setup or its own snapshot)."""
    kinds = {"columns": int, "frac_bits": int, "learning_rate": float, "l2": float}
    return {name: wire.need(fields, name, kind) for name, kind in kinds.items()}  # type: ignore[misc]


class HeteroLRHost:
    """The non-label party's role (prefix ``lr``): it keeps its weights and never decrypts."""

    def __init__(self, data: HostData) -> None:
        self.data = data
        self.weights: np.ndarray | None = None
        self.kit: PublicKit | None = None
        self.guest_ct: CipherMatrix | None = None
        self.pending: tuple[np.ndarray, list[int], int] | None = None
        self.params: dict[str, float | int] = {}
        self.rows = np.zeros(0, dtype=np.int64)
        #: this host's importance table, for its own records (HostParty writes it out)
        self.output: dict | None = None

    def handle(self, kind: str, fields: Fields) -> Fields:
        verb = kind.removeprefix("lr.")
        if verb not in ("setup", "features", "batch", "unmask", "predict", "importance"):
            raise ProtocolError(f"unknown message {kind!r}")
        return getattr(self, "_" + verb)(fields)

    def _prepare(self, rows: np.ndarray) -> None:
        """Standardise with this party's own statistics over the training rows."""
        x = self.data.aligned_features()
        if rows.size == 0 or rows.min() < 0 or rows.max() >= len(x):
            raise FormatError("training rows are out of range")
        mean, scale = standardise(x[rows])
        self.rows, self.std = rows, (x - mean) / scale
        self.fixed = _fix(self.std, int(self.params["frac_bits"]))

    def _setup(self, fields: Fields) -> Fields:
        scheme = wire.need(fields, "scheme", str)
        key = wire.need(fields, "public_key", bytes)
        rows = wire.need_array(fields, "rows", "int64", (None,))
        params = _params(fields)
        start = wire.need(fields, "start_epoch", int)
        HeteroLRConfig(frac_bits=int(params["frac_bits"]))  # the same range checks
        same = self.weights is not None and params == self.params
        if start > 0 and not (same and np.array_equal(rows, self.rows)):  # see party.restore
            raise ProtocolError("lr.setup does not match the restored checkpoint")
        self.params = params  # type: ignore[assignment]
        self._prepare(rows)
        if start == 0:
            self.weights = np.zeros(self.std.shape[1])
        assert isinstance(scheme, str) and isinstance(key, bytes)
        self.kit = PublicKit.from_bytes(scheme, key)
        self.guest_ct, self.pending = None, None
        return {"features": int(self.std.shape[1])}

    def _features(self, fields: Fields) -> Fields:
        if self.kit is None:
            raise ProtocolError("lr.features before lr.setup")
        data = wire.need(fields, "ciphertexts", bytes)
        assert isinstance(data, bytes)
        self.guest_ct = self.kit.parse(data, (len(self.rows), int(self.params["columns"])))
        return {}

    def _batch(self, fields: Fields) -> Fields:
        if self.kit is None or self.guest_ct is None or self.weights is None:
            raise ProtocolError("lr.batch before lr.setup and lr.features")
        if self.pending is not None:
            raise ProtocolError("lr.batch before the previous batch was unmasked")
        idx = wire.need_array(fields, "indices", "int64", (None,))
        if idx.size == 0 or idx.min() < 0 or idx.max() >= len(self.rows):
            raise FormatError("batch indices are out of range")
        if len(idx) <= int(self.params["columns"]):
            # fewer rows than unknowns: Aᵀ z_h would let the guest solve for z_h per row
            raise ProtocolError("batch smaller than the number of columns")
        data = wire.need(fields, "residual", bytes)
        assert isinstance(data, bytes)
        kit, f = self.kit, int(self.params["frac_bits"])
        residual = kit.parse(data, (len(idx), 1))
        rows = self.rows[idx]
        z_h = self.std[rows] @ self.weights
        residual = kit.evaluator.add(residual, kit.plain(_fix(z_h / 4, f).reshape(-1, 1)))
        gradient = signed_matmul(kit, self.fixed[rows].T, residual)
        mask_bits = self._mask_bits(len(idx), rows)
        mask = [secrets.randbits(mask_bits) for _ in range(self.weights.size)]
        gradient = kit.evaluator.add(gradient, _encrypt_big(kit, mask, (len(mask), 1)))
        cross = signed_matmul(kit, _fix(z_h, f).reshape(1, -1), self.guest_ct[idx.tolist()])
        cross = kit.evaluator.add(cross, kit.encrypt(np.zeros((1, cross.shape[1]), np.int64)))
        self.pending = (idx, mask, mask_bits - MASK_MARGIN_BITS)
        return {"gradient": to_bytes(gradient), "cross": to_bytes(cross)}

    def _mask_bits(self, size: int, rows: np.ndarray) -> int:
        """|X_hᵀ d| < 2^value_bits; the mask is MASK_MARGIN_BITS wider (statistical hiding)."""
        assert self.kit is not None
        largest = int(np.abs(self.fixed[rows]).max(initial=1))
        value_bits = size.bit_length() + largest.bit_length() + _RESIDUAL_BITS
        bits = value_bits + MASK_MARGIN_BITS
        if bits + 2 >= _bound_bits(self.kit):
            raise ConfigError("the HE plaintext space cannot hold the gradient mask")
        return bits

    def _unmask(self, fields: Fields) -> Fields:
        if self.pending is None or self.kit is None or self.weights is None:
            raise ProtocolError("lr.unmask without a pending batch")
        idx, mask, value_bits = self.pending
        data = wire.need(fields, "values", bytes)
        assert isinstance(data, bytes)
        masked = _unpack_ints(data, len(mask), _int_width(self.kit))
        exact = [v - r for v, r in zip(masked, mask, strict=True)]
        if any(abs(g) >= 1 << value_bits for g in exact):
            raise ProtocolError("unmasked gradient is out of range")
        f = int(self.params["frac_bits"])
        grad = np.array([math.ldexp(g, -2 * f) for g in exact]) / len(idx)
        grad += float(self.params["l2"]) * self.weights
        self.weights = self.weights - float(self.params["learning_rate"]) * grad
        self.pending = None
        return {}

    def _predict(self, fields: Fields) -> Fields:
        if self.weights is None:
            raise ProtocolError("lr.predict before training")
        rows = wire.need_array(fields, "rows", "int64", (None,))
        if rows.size and (rows.min() < 0 or rows.max() >= len(self.std)):
            raise FormatError("prediction rows are out of range")
        return {"scores": self.std[rows] @ self.weights}

    def _importance(self, fields: Fields) -> Fields:
        if self.weights is None:
            raise ProtocolError("lr.importance before training")
        self.output = host_lr_table(self.data, self.std, self.weights, fields)
        return {}

    def snapshot(self) -> Fields:
        """Weights and run parameters; [[A]] is not kept (the guest re-sends it under a
        fresh key on resume, so a checkpoint stays small)."""
        if self.weights is None or self.pending is not None:
            raise ProtocolError("nothing to checkpoint between batches")
        return {"weights": self.weights, "rows": self.rows, **self.params}

    def restore(self, fields: Fields) -> None:
        self.weights = wire.need_array(fields, "weights", "float64", (None,))
        self.params = _params(fields)
        self._prepare(wire.need_array(fields, "rows", "int64", (None,)))
        if self.weights.shape != (self.std.shape[1],):
            raise CheckpointError("checkpoint weights do not match this party's columns")


def _only_host(channel: Channel) -> str:
    if len(channel.parties) != 1:
        # a host's gradient would need the other hosts' z_j: only a third key holder could
        # combine them (docs/vertical.md); SecureBoost takes several hosts
        raise ConfigError("hetero LR takes exactly one other party (SecureBoost takes more)")
    return channel.parties[0]


def _check_sizes(n: int, guest_columns: int, host_columns: int, config: HeteroLRConfig) -> None:
    """Every batch needs more rows than either party has columns, or a gradient would be
    a solvable system for the other party's per-row values (z_h, or the residual d)."""
    smallest = min(len(b) for b in batches(n, config, 0))
    if smallest <= max(guest_columns, host_columns):
        limit = max(guest_columns, host_columns)
        raise ConfigError(f"batches of {smallest} rows reveal per-row values: need > {limit}")


@dataclass
class _Guest:
    """The label party's running state."""

    channel: Channel
    host: str
    a: np.ndarray  # standardised columns and a ones column
    y: np.ndarray
    config: HeteroLRConfig
    w: np.ndarray
    kit: SecretKit | None = None
    host_columns: int = 0

    def step(self, idx: np.ndarray) -> None:
        """One mini-batch: send [[d_g]], decrypt the masked and the cross terms, update."""
        assert self.kit is not None
        f, kit = self.config.frac_bits, self.kit
        d_g = self.a[idx] @ self.w / 4 + 0.5 - self.y[idx]
        ct = kit.encrypt(_fix(d_g, f).reshape(-1, 1))
        reply = self.channel.call(
            self.host, "lr.batch", {"indices": idx.astype(np.int64), "residual": to_bytes(ct)}
        )
        check_reply(reply, {"gradient", "cross"})
        gradient = wire.need(reply, "gradient", bytes)
        cross_ct = wire.need(reply, "cross", bytes)
        assert isinstance(gradient, bytes) and isinstance(cross_ct, bytes)
        masked = kit.decrypt_big(kit.parse(gradient, (self.host_columns, 1))).ravel()
        cross = kit.decrypt_big(kit.parse(cross_ct, (1, self.a.shape[1]))).ravel()
        values = _pack_ints([int(v) for v in masked], _int_width(kit))
        check_reply(self.channel.call(self.host, "lr.unmask", {"values": values}), set())
        if any(abs(int(v)) >> 256 for v in cross):  # far beyond |Aᵀ z_h|: a broken host
            raise FormatError("the cross term is out of range")
        cross_f = np.array([math.ldexp(int(v), -2 * f) for v in cross])
        decay = np.r_[np.ones(self.a.shape[1] - 1), 0.0]
        grad = (self.a[idx].T @ d_g + cross_f / 4) / len(idx) + self.config.l2 * decay * self.w
        self.w = self.w - self.config.learning_rate * grad

    def setup(self, scheme: str, rows: np.ndarray, start: int) -> None:
        """Fresh key pair, ``lr.setup`` and ``lr.features`` (also on every resume)."""
        self.kit = SecretKit.generate(scheme)
        c = self.config
        reply = self.channel.call(
            self.host,
            "lr.setup",
            {"scheme": scheme, "public_key": self.kit.public_bytes(), "rows": rows,
             "columns": self.a.shape[1], "frac_bits": c.frac_bits, "start_epoch": start,
             "learning_rate": float(c.learning_rate), "l2": float(c.l2)},
        )  # fmt: skip
        check_reply(reply, {"features"})
        host_columns = wire.need(reply, "features", int)
        assert isinstance(host_columns, int)
        if host_columns < 1:
            raise FormatError("the host reports no columns")
        self.host_columns = host_columns
        _check_sizes(len(self.y), self.a.shape[1], host_columns, c)
        features = to_bytes(self.kit.encrypt(_fix(self.a, c.frac_bits)))
        check_reply(self.channel.call(self.host, "lr.features", {"ciphertexts": features}), set())


def _fingerprint(config: HeteroLRConfig, rows: int, columns: int) -> Fields:
    """What a checkpoint must agree on to be resumed (epochs may grow)."""
    return {
        "batch_size": config.batch_size, "learning_rate": float(config.learning_rate),
        "l2": float(config.l2), "seed": config.seed, "frac_bits": config.frac_bits,
        "rows": rows, "columns": columns,
    }  # fmt: skip


def _save(path: Path, guest: _Guest, epoch: int, records: list[EpochRecord]) -> None:
    fields: Fields = {
        "epoch": epoch,
        "weights": guest.w,
        "records": np.array(
            [[r.seconds, r.bytes_sent, r.bytes_received] for r in records], dtype=np.float64
        ).reshape(-1, 3),
        **_fingerprint(guest.config, len(guest.y), guest.a.shape[1]),
    }
    atomic_write(path, wire.encode("state.lr-guest", fields))


def _load(path: Path, guest: _Guest) -> tuple[int, list[EpochRecord]]:
    """The last completed epoch and its records, into ``guest``; (0, []) if none."""
    if not path.exists():
        return 0, []
    try:
        kind, fields = wire.decode(path.read_bytes())
    except FormatError as exc:
        raise CheckpointError("the hetero LR checkpoint is damaged") from exc
    expected = _fingerprint(guest.config, len(guest.y), guest.a.shape[1])
    if kind != "state.lr-guest" or any(fields.get(k) != v for k, v in expected.items()):
        raise CheckpointError("the hetero LR checkpoint is of another run or configuration")
    epoch = wire.need(fields, "epoch", int)
    assert isinstance(epoch, int)
    guest.w = wire.need_array(fields, "weights", "float64", guest.w.shape)
    table = wire.need_array(fields, "records", "float64", (epoch, 3))
    return epoch, [EpochRecord(e, float(s), int(o), int(i)) for e, (s, o, i) in enumerate(table)]


def _inputs(
    guest_X: np.ndarray, y: np.ndarray, host_rows: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, labels = np.asarray(guest_X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or labels.shape != (len(x),) or not np.all(np.isfinite(x)):
        raise DataError("guest_X must be finite rows × columns with one label per row")
    if not np.all((labels == 0) | (labels == 1)):
        raise DataError("labels must be 0 or 1")
    rows = np.asarray(np.arange(len(x)) if host_rows is None else host_rows).astype(np.int64)
    if rows.shape != (len(x),):
        raise DataError("host_rows must give one host row per guest row")
    return x, labels, rows


def train_hetero_lr(
    channel: Channel,
    guest_X: np.ndarray,
    y: np.ndarray,
    config: HeteroLRConfig,
    scheme: str = "paillier",
    *,
    host_rows: np.ndarray | None = None,
    checkpoint_dir: Path | str | None = None,
    resume: bool = False,
) -> HeteroLRModel:
    """Train with the one host on ``channel``; row i of ``guest_X``/``y`` is the host's
    aligned row ``host_rows[i]`` (default i). With ``checkpoint_dir`` both parties
    checkpoint after every epoch; ``resume`` continues from the last one (or starts)."""
    host = _only_host(channel)
    x, labels, rows = _inputs(guest_X, y, host_rows)
    mean, scale = standardise(x)
    a = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    guest = _Guest(channel, host, a, labels, config, np.zeros(a.shape[1]))
    _check_sizes(len(x), a.shape[1], 0, config)
    path = Path(checkpoint_dir) / _STATE_FILE if checkpoint_dir is not None else None
    start, records = _load(path, guest) if resume and path is not None else (0, [])
    if start > 0:
        channel.call(host, "party.restore", {"protocol": PROTOCOL, "step": start})
    t0, bytes0 = time.perf_counter(), channel.traffic.total()
    if start < config.epochs:
        guest.setup(scheme, rows, start)
    setup_seconds, setup_bytes = time.perf_counter() - t0, channel.traffic.total() - bytes0
    for epoch in range(start, config.epochs):
        t, before = time.perf_counter(), _traffic(channel, host)
        for idx in batches(len(x), config, epoch):
            guest.step(idx)
        sent, received = (
            now - then for now, then in zip(_traffic(channel, host), before, strict=True)
        )
        records.append(EpochRecord(epoch, time.perf_counter() - t, sent, received))
        if path is not None:
            channel.call(host, "party.checkpoint", {"protocol": PROTOCOL, "step": epoch + 1})
            path.parent.mkdir(parents=True, exist_ok=True)
            _save(path, guest, epoch + 1, records)
    return HeteroLRModel(
        host, guest.w[:-1].copy(), float(guest.w[-1]), mean, scale, config, scheme,
        records, setup_seconds, setup_bytes,
    )  # fmt: skip


def _traffic(channel: Channel, host: str) -> tuple[int, int]:
    return channel.traffic.sent.get(host, 0), channel.traffic.received.get(host, 0)


def predict_proba(
    channel: Channel, model: HeteroLRModel, guest_X: np.ndarray, host_rows: np.ndarray
) -> np.ndarray:
    """P(y = 1) of rows whose guest columns are ``guest_X`` and whose host rows (aligned
    positions) are ``host_rows``. Reveals the host's partial scores of these rows to the
    guest: for evaluation or serving, not during training."""
    x = np.asarray(guest_X, dtype=np.float64)
    rows = np.asarray(host_rows).astype(np.int64)
    if x.ndim != 2 or x.shape[1] != model.weights.size or rows.shape != (len(x),):
        raise DataError("predict_proba needs one host row per guest row, with its columns")
    reply = channel.call(model.host, "lr.predict", {"rows": rows})
    check_reply(reply, {"scores"})
    z_h = wire.need_array(reply, "scores", "float64", (len(rows),))
    z = (x - model.mean) / model.scale @ model.weights + model.bias + z_h
    return 1.0 / (1.0 + np.exp(-z))
