"""SecureBoost: vertical gradient-boosted trees (Cheng et al., IEEE Intelligent Systems 2021).

The label party (guest) encrypts each row's gradient and hessian — packed into one
ciphertext — once per tree and sends them to every host; per tree level a host returns the
encrypted cumulative per-bin sums of each node it is asked about, the guest decrypts them,
adds its own plaintext histograms and picks the best split over all parties. For a host's
split the guest learns only (party, feature index, bin) and the left/right partition of the
node's rows; the threshold stays with the host under a split id. Leaf weights stay with the
guest. Training runs :func:`veil.vertical.gbdt.grow_tree` itself with the hosts as remote
histogram sources, so the model equals the plain GBDT on the joined table (lossless).

Packing. Gradients and hessians are int64 fixed point (:func:`~veil.vertical.gbdt.fixed_point`,
scale 2^40). Row i's plaintext is ``g_i + h_i · 2^k`` with ``k = 40 + bitlen(n) + 2``, so
any sum of up to n rows keeps |Σg| < 2^(k−2): the guest reads Σg as the centred residue
mod 2^k and Σh = (v − Σg) / 2^k, exactly (h ≥ 0, so no row count is needed). A host then
packs ``c`` histogram cells into one ciphertext before replying (Horner:
``acc · 2^w + cell``, plus an offset 2^(k−1) per cell so every slot is non-negative), with
slot width ``w = k + 40 + bitlen(n)`` and ``c = ⌊(plaintext bits − 2) / w⌋`` (19 for
2048-bit Paillier at 4,000 rows): ``c`` times fewer decryptions and bytes back. All of it
is integer arithmetic far inside the plaintext space, hence exact.

Messages (docs/vertical.md, *SecureBoost*): ``sb.start``, ``sb.tree``, ``sb.hist``,
``sb.split``, ``sb.predict``; between trees ``party.checkpoint``, and ``party.restore`` on
resume.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from heu import phe

from veil.crypto.seal import atomic_write
from veil.errors import CheckpointError, DataError, FormatError, ProtocolError
from veil.vertical import wire
from veil.vertical.binning import Binning, bin_features
from veil.vertical.channel import Channel, HostData, check_reply
from veil.vertical.gbdt import (
    SCALE_BITS,
    GBDTConfig,
    LocalSource,
    Tree,
    base_score,
    check_labels,
    gradients,
    grow_tree,
    raw_scores,
    sigmoid,
    stack,
    trees_from_fields,
    trees_to_fields,
    walk,
)
from veil.vertical.he import CipherMatrix, PublicKit, SecretKit, to_bytes
from veil.vertical.shares import host_boost_table
from veil.vertical.wire import Fields, need, need_array

PREFIX = "sb"
_CHECKPOINT = re.compile(r"^sb-(\d{6})\.state$")


def slot_bits(n_rows: int) -> int:
    """Width of the gradient slot: |Σg| over n rows stays below 2^(k−1)."""
    return SCALE_BITS + n_rows.bit_length() + 2


class SecureBoostHost:
    """A host's SecureBoost role: bins its columns, sums encrypted gradients per bin, keeps
    its thresholds under split ids and answers prediction queries with them."""

    def __init__(self, data: HostData) -> None:
        self.data = data
        self.kit: PublicKit | None = None
        self.bins = np.zeros((0, 0), dtype=np.int8)
        self.binning: Binning | None = None
        self.n_bins = self.slot = self.width = self.per_ct = 0
        self.gh: CipherMatrix | None = None
        self.tree = -1
        self.row_node = np.zeros(0, dtype=np.int32)
        # the lookup table: split id -> (tree, feature, threshold)
        self.split_tree = np.zeros(0, dtype=np.int64)
        self.split_feature = np.zeros(0, dtype=np.int64)
        self.split_threshold = np.zeros(0, dtype=np.float64)
        #: this host's importance table, for its own records (HostParty writes it out)
        self.output: dict | None = None

    def handle(self, kind: str, fields: Fields) -> Fields:
        handlers = {
            "sb.start": self._start,
            "sb.tree": self._tree,
            "sb.hist": self._hist,
            "sb.split": self._split,
            "sb.predict": self._predict,
            "sb.importance": self._importance,
        }
        handler = handlers.get(kind)
        if handler is None:
            raise ProtocolError(f"unknown SecureBoost message {kind!r}")
        return handler(fields)

    def snapshot(self) -> Fields:
        return {
            "n_bins": self.n_bins,
            "split_tree": self.split_tree,
            "split_feature": self.split_feature,
            "split_threshold": self.split_threshold,
        }

    def restore(self, fields: Fields) -> None:
        self.n_bins = _int(fields, "n_bins")
        self.split_tree = need_array(fields, "split_tree", "int64", (None,))
        count = (len(self.split_tree),)
        self.split_feature = need_array(fields, "split_feature", "int64", count)
        self.split_threshold = need_array(fields, "split_threshold", "float64", count)

    def _start(self, fields: Fields) -> Fields:
        scheme = need(fields, "scheme", str)
        key = need(fields, "public_key", bytes)
        n_bins, rows, first = (_int(fields, k) for k in ("n_bins", "rows", "first_tree"))
        slot, width, per_ct = (_int(fields, k) for k in ("slot_bits", "cell_bits", "cells_per_ct"))
        x = self.data.aligned_features()
        if rows != len(x):
            raise DataError(f"{self.data.name}: {len(x)} aligned rows, the label party has {rows}")
        if x.shape[1] == 0:
            raise DataError(f"{self.data.name}: no feature columns")
        keep = self.split_tree < first
        if first > 0 and self.n_bins != n_bins and np.any(keep):
            raise ProtocolError("resumed with a different number of bins")
        self._keep(keep)
        assert isinstance(scheme, str) and isinstance(key, bytes)
        self.kit = PublicKit.from_bytes(scheme, key)
        if not (0 < slot < width and per_ct >= 1 and per_ct * width + 2 <= _plain_bits(self.kit)):
            raise FormatError("histogram packing does not fit the HE plaintext")
        self.slot, self.width, self.per_ct = slot, width, per_ct
        self.bins, self.binning = bin_features(x, n_bins)
        self.n_bins, self.gh, self.tree = n_bins, None, -1
        return {"features": int(x.shape[1])}

    def _keep(self, keep: np.ndarray) -> None:
        self.split_tree = self.split_tree[keep]
        self.split_feature = self.split_feature[keep]
        self.split_threshold = self.split_threshold[keep]

    def _tree(self, fields: Fields) -> Fields:
        if self.kit is None:
            raise ProtocolError("sb.tree before sb.start")
        tree = _int(fields, "tree")
        gh = need(fields, "gh", bytes)
        assert isinstance(gh, bytes)
        self.gh = self.kit.parse(gh, (len(self.bins), 1))
        self._keep(self.split_tree < tree)  # a retried tree replaces its half-built splits
        self.tree, self.row_node = tree, np.zeros(len(self.bins), dtype=np.int32)
        return {}

    def _hist(self, fields: Fields) -> Fields:
        if self.kit is None or self.gh is None or _int(fields, "tree") != self.tree:
            raise ProtocolError("sb.hist outside the current tree")
        self.row_node = need_array(fields, "row_node", "int32", (len(self.bins),))
        nodes = need_array(fields, "nodes", "int32", (None,))
        if len(nodes) == 0 or len(np.unique(nodes)) != len(nodes) or np.any(nodes < 0):
            raise FormatError("sb.hist needs distinct node ids")
        groups = [(self.row_node == node).astype(np.int8).reshape(1, -1) for node in nodes]
        sums = self.kit.evaluator.batch_feature_wise_bucket_sum(
            self.gh, groups, self.bins, self.n_bins, True
        )
        blobs = [to_bytes(self._pack(ct)) for ct in sums]
        return {"sizes": np.array([len(b) for b in blobs], dtype=np.int64), "hist": b"".join(blobs)}

    def _pack(self, cells: CipherMatrix) -> CipherMatrix:
        """``per_ct`` cells (each + 2^(slot−1)) per ciphertext, in :func:`pack_layout` order."""
        assert self.kit is not None
        starts, size = pack_layout(cells.shape[0], self.per_ct)
        encoder = phe.BigintEncoder(self.kit.kit.get_schema())
        shift = self.kit.kit.array(np.array([[1 << self.width]], dtype=object), encoder)
        acc = cells[starts[-1] : starts[-1] + size]
        for start in starts[-2::-1]:
            acc = self.kit.evaluator.add(
                self.kit.evaluator.mul(acc, shift), cells[start : start + size]
            )
        offset = sum((1 << (self.slot - 1)) << (j * self.width) for j in range(len(starts)))
        return self.kit.evaluator.add(
            acc, self.kit.kit.array(np.array([[offset]], dtype=object), encoder)
        )

    def _split(self, fields: Fields) -> Fields:
        if self.binning is None or _int(fields, "tree") != self.tree:
            raise ProtocolError("sb.split outside the current tree")
        node, feature, bin_index = (_int(fields, k) for k in ("node", "feature", "bin"))
        rows = np.flatnonzero(self.row_node == node)
        if len(rows) == 0:
            raise DataError(f"node {node} holds no rows")
        threshold = self.binning.threshold(feature, bin_index)
        split_id = len(self.split_tree)
        self.split_tree = np.append(self.split_tree, self.tree)
        self.split_feature = np.append(self.split_feature, feature)
        self.split_threshold = np.append(self.split_threshold, threshold)
        return {"split_id": split_id, "left": self.bins[rows, feature] <= bin_index}

    def _predict(self, fields: Fields) -> Fields:
        x = self.data.aligned_features()
        if _int(fields, "rows") != len(x):
            raise DataError(
                f"{self.data.name}: {len(x)} aligned rows to predict, asked for another count"
            )
        split = need_array(fields, "split", "int64", (None,))
        row = need_array(fields, "row", "int64", (len(split),))
        if np.any((split < 0) | (split >= len(self.split_tree))):
            raise DataError("unknown split id")
        if np.any((row < 0) | (row >= len(x))):
            raise DataError("row index out of range")
        return {"left": x[row, self.split_feature[split]] <= self.split_threshold[split]}

    def _importance(self, fields: Fields) -> Fields:
        self.output = host_boost_table(self.data, fields)
        return {}


def pack_layout(cells: int, per_ct: int) -> tuple[list[int], int]:
    """Where each slot's block of cells starts, and the block length: ``per_ct`` blocks of
    ``size`` cells, the last one ending at the last cell (it may overlap the one before;
    the reader takes each cell once)."""
    per_ct = max(1, min(per_ct, cells))
    size = -(-cells // per_ct)
    starts = [min(j * size, cells - size) for j in range(per_ct)]
    return starts, size


def _plain_bits(kit: PublicKit) -> int:
    return int(str(kit.kit.public_key().plaintext_bound())).bit_length()


def _int(fields: Fields, name: str) -> int:
    value = need(fields, name, int)
    assert isinstance(value, int)
    return value


class _TreeCipher:
    """The packed, encrypted gradients of the current tree, made once and sent to every host."""

    def __init__(self, kit: SecretKit, n_rows: int) -> None:
        self.kit, self.n_rows, self.slot = kit, n_rows, slot_bits(n_rows)
        self.width = self.slot + SCALE_BITS + n_rows.bit_length()
        self.per_ct = (_plain_bits(kit) - 2) // self.width
        if self.per_ct < 1:
            raise DataError("too many rows for the HE key's plaintext space")
        self._tree, self._blob = -1, b""

    def blob(self, tree: int, g: np.ndarray, h: np.ndarray) -> bytes:
        if tree != self._tree:
            packed = g.astype(object) + h.astype(object) * (1 << self.slot)
            encoder = phe.BigintEncoder(self.kit.kit.get_schema())
            plain = self.kit.kit.array(packed.reshape(-1, 1), encoder)
            self._tree, self._blob = tree, to_bytes(self.kit.kit.encryptor().encrypt(plain))
        return self._blob


class _HostSource:
    """A host seen by the grower: encrypted gradients out, decrypted histograms back."""

    def __init__(self, channel: Channel, party: str, cipher: _TreeCipher, n_bins: int, first: int):
        self.channel, self.party, self.cipher, self.n_bins = channel, party, cipher, n_bins
        kit = cipher.kit
        fields = {"scheme": kit.scheme, "public_key": kit.public_bytes(), "n_bins": n_bins}
        fields |= {"rows": cipher.n_rows, "first_tree": first, "slot_bits": cipher.slot}
        fields |= {"cell_bits": cipher.width, "cells_per_ct": cipher.per_ct}
        reply = self._call("start", fields, {"features"})
        self.n_features = _int(reply, "features")
        if not 0 < self.n_features <= 1 << 16:
            raise FormatError(f"{party}: implausible feature count")
        self.tree = -1

    def _call(self, verb: str, fields: Fields, expected: set[str]) -> Fields:
        reply = self.channel.call(self.party, f"{PREFIX}.{verb}", fields)
        check_reply(reply, expected)
        return reply

    def begin_tree(self, tree: int, g: np.ndarray, h: np.ndarray) -> None:
        self._call("tree", {"tree": tree, "gh": self.cipher.blob(tree, g, h)}, set())
        self.tree = tree

    def histograms(self, row_node: np.ndarray, nodes: Sequence[int]) -> np.ndarray:
        ask = {"tree": self.tree, "row_node": row_node, "nodes": np.asarray(nodes, dtype=np.int32)}
        reply = self._call("hist", ask, {"sizes", "hist"})
        sizes = need_array(reply, "sizes", "int64", (len(nodes),))
        blob = need(reply, "hist", bytes)
        assert isinstance(blob, bytes)
        if np.any(sizes < 0) or int(sizes.sum()) != len(blob):
            raise FormatError(f"{self.party}: histogram sizes do not add up")
        cells, kit, out = self.n_features * self.n_bins, self.cipher.kit, []
        starts, size = pack_layout(cells, self.cipher.per_ct)
        for start, length in zip(np.cumsum(sizes) - sizes, sizes, strict=True):
            ct = kit.parse(blob[start : start + length], (size, 1))
            out.append(self.unpack(kit.decrypt_big(ct).reshape(-1), starts, size))
        return np.stack(out).reshape(len(nodes), self.n_features, self.n_bins, 2)

    def unpack(self, packed: np.ndarray, starts: list[int], size: int) -> np.ndarray:
        """(Σg, Σh) int64 per cell from the packed ciphertexts' plaintexts."""
        c = self.cipher
        if np.any(packed < 0) or np.any(packed >= 1 << (len(starts) * c.width)):
            raise FormatError(f"{self.party}: packed histogram out of range")
        cells = np.empty(starts[-1] + size, dtype=object)
        for j, start in enumerate(starts):
            cells[start : start + size] = (packed >> (j * c.width)) & ((1 << c.width) - 1)
        value = cells - (1 << (c.slot - 1))
        full, half = 1 << c.slot, 1 << (c.slot - 1)
        g = (value + half) % full - half
        h = (value - g) // full
        try:
            out = np.stack([g.astype(np.int64), h.astype(np.int64)], axis=1)
        except OverflowError:
            raise FormatError(f"{self.party}: histogram sums out of range") from None
        if np.any(out[:, 1] < 0):
            raise FormatError(f"{self.party}: negative hessian sum")
        return out

    def split(
        self, row_node: np.ndarray, node: int, feature: int, bin_index: int
    ) -> tuple[np.ndarray, int]:
        ask = {"tree": self.tree, "node": node, "feature": feature, "bin": bin_index}
        reply = self._call("split", ask, {"split_id", "left"})
        count = int(np.count_nonzero(row_node == node))
        return need_array(reply, "left", "bool", (count,)), _int(reply, "split_id")


@dataclass
class SecureBoostModel:
    """What the label party keeps: trees (host nodes by split id), leaf values, its own cuts."""

    config: GBDTConfig
    base_score: float
    trees: list[Tree]
    guest_binning: Binning
    hosts: list[str]


def train_secureboost(
    channel: Channel,
    guest_X: np.ndarray,
    y: np.ndarray,
    config: GBDTConfig | None = None,
    *,
    scheme: str = "paillier",
    checkpoint_dir: os.PathLike[str] | None = None,
    resume_from: os.PathLike[str] | None = None,
) -> SecureBoostModel:
    """Train SecureBoost with the label party's ``guest_X`` and labels ``y`` (rows aligned).

    With ``checkpoint_dir``, every host checkpoints and the guest writes
    ``sb-<trees done>.state`` there after each tree; ``resume_from`` (such a file) restores
    every host to the same step and continues with the next tree.
    """
    config = config or GBDTConfig()
    x = np.asarray(guest_X, dtype=np.float64)
    labels = check_labels(y, len(x))
    guest_bins, binning = bin_features(x, config.n_bins)
    hosts = channel.parties
    digest = _digest(x, labels)
    base, trees = base_score(labels), []
    score = np.full(len(labels), base)
    if resume_from is not None:
        trees, score = _resume(channel, Path(resume_from), config, hosts, digest)
    cipher = _TreeCipher(SecretKit.generate(scheme), len(x))
    sources = [LocalSource(guest_bins, config.n_bins)]
    sources += [_HostSource(channel, h, cipher, config.n_bins, len(trees)) for h in hosts]
    for t in range(len(trees), config.n_trees):
        g, h = gradients(score, labels)
        tree, leaf = grow_tree(sources, g, h, config, t)
        trees.append(tree)
        score = score + tree.value[leaf]
        if checkpoint_dir is not None:
            _checkpoint(channel, Path(checkpoint_dir), config, hosts, digest, trees, score)
    return SecureBoostModel(config, base, trees, binning, hosts)


def _digest(x: np.ndarray, labels: np.ndarray) -> str:
    """Fingerprint of the guest's data: a checkpoint resumes only the run it came from."""
    return hashlib.sha256(np.ascontiguousarray(x).tobytes() + labels.tobytes()).hexdigest()


def _checkpoint(
    channel: Channel,
    where: Path,
    config: GBDTConfig,
    hosts: list[str],
    digest: str,
    trees: list[Tree],
    score: np.ndarray,
) -> None:
    step = len(trees)
    for host in hosts:
        channel.call(host, "party.checkpoint", {"protocol": PREFIX, "step": step})
    fields: Fields = {"step": step, "hosts": json.dumps(hosts), "digest": digest, "score": score}
    fields.update(config.to_fields())
    fields.update(trees_to_fields(trees))
    where.mkdir(parents=True, exist_ok=True)
    atomic_write(where / f"sb-{step:06d}.state", wire.encode("sb.guest", fields))


def latest_checkpoint(checkpoint_dir: os.PathLike[str]) -> Path | None:
    """The guest's newest checkpoint file in ``checkpoint_dir``, if any."""
    found = sorted(p for p in Path(checkpoint_dir).glob("sb-*.state") if _CHECKPOINT.match(p.name))
    return found[-1] if found else None


def _resume(
    channel: Channel, path: Path, config: GBDTConfig, hosts: list[str], digest: str
) -> tuple[list[Tree], np.ndarray]:
    try:
        kind, fields = wire.decode(path.read_bytes())
    except OSError as exc:
        raise CheckpointError(f"cannot read {path.name}") from exc
    if kind != "sb.guest":
        raise CheckpointError("not a SecureBoost checkpoint")
    if need(fields, "digest", str) != digest or need(fields, "hosts", str) != json.dumps(hosts):
        raise CheckpointError("checkpoint is of another run (data or parties differ)")
    if GBDTConfig.from_fields(fields) != config:
        raise CheckpointError("checkpoint was made with other hyper-parameters")
    step = _int(fields, "step")
    trees = trees_from_fields(fields)
    score = need_array(fields, "score", "float64", (None,))
    if len(trees) != step or step > config.n_trees:
        raise CheckpointError("checkpoint step does not match its trees")
    for host in hosts:
        channel.call(host, "party.restore", {"protocol": PREFIX, "step": step})
    return trees, score


def predict_proba(channel: Channel, model: SecureBoostModel, guest_X: np.ndarray) -> np.ndarray:
    """Federated prediction of the rows aligned with ``guest_X``: the guest walks every tree a
    level at a time and asks each host once per level which way its nodes send the rows."""
    if sorted(channel.parties) != sorted(model.hosts):
        raise ProtocolError("the channel's parties are not the model's")
    x = np.asarray(guest_X, dtype=np.float64)
    guest_bins = model.guest_binning.transform(x)
    feature, cut, split_id = (stack(model.trees, k) for k in ("feature", "bin", "split_id"))

    def directions(party: int, t: np.ndarray, nodes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if party == 0:
            return guest_bins[rows, feature[t, nodes]] <= cut[t, nodes]
        host = model.hosts[party - 1]
        ask = {"rows": len(x), "split": split_id[t, nodes], "row": rows.astype(np.int64)}
        reply = channel.call(host, f"{PREFIX}.predict", ask)
        check_reply(reply, {"left"})
        return need_array(reply, "left", "bool", (len(rows),))

    leaves = walk(model.trees, len(x), directions)
    return sigmoid(raw_scores(model.base_score, model.trees, leaves))


__all__ = [
    "SecureBoostHost",
    "SecureBoostModel",
    "latest_checkpoint",
    "predict_proba",
    "train_secureboost",
]
