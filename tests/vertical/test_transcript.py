"""A whole vertical run (PSI, SecureBoost, hetero LR) with every byte each host receives kept:
no label, no other party's column value, no ID the host does not hold appears in them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from veil.vertical.federation import Federation, HostSpec
from veil.vertical.gbdt import GBDTConfig
from veil.vertical.hetero_lr import HeteroLRConfig
from veil.vertical.ids import id_digest, normalise_id
from veil.vertical.tables import read_table, write_table
from veil.vertical.training import VerticalSettings, run_guest

pytestmark = pytest.mark.slow


def _encodings(values: np.ndarray) -> list[bytes]:
    """Each value as float64 and, where whole, int64 bytes (8-byte needles: a chance match
    in a few MiB of ciphertext has probability ~2⁻⁴⁰; 4-byte ones would match by chance)."""
    out = []
    for v in np.unique(values.astype(np.float64)):
        if abs(v) < 100:  # small whole numbers occur in any message (counts, shapes)
            continue
        out.append(np.float64(v).tobytes())
        if float(v).is_integer() and abs(v) > 1:
            out.append(np.int64(v).tobytes())
    return out


def _write(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(7)
    n = 240
    x = np.round(rng.normal(size=(n, 6)) * 1000 + 5000, 3)  # distinctive values to search for
    y = (x[:, 0] + x[:, 2] + x[:, 4] + rng.normal(scale=800, size=n) > 15000).astype(int)
    ids = [f"K-{i:05d}" for i in range(n)]
    paths = {name: folder / f"{name}.csv" for name in ("bank", "shop", "agency")}
    write_table(paths["bank"], ["id", "y", "b1", "b2"],
                [[ids[i], y[i], x[i, 0], x[i, 1]] for i in range(n)] +
                [[f"BANK-ONLY-{i}", i % 2, 1.0, 2.0] for i in range(20)])  # fmt: skip
    for name, (c1, c2), keep in (("shop", (2, 3), 200), ("agency", (4, 5), 220)):
        rows = rng.permutation(n)[:keep]
        write_table(paths[name], ["id", f"{name}1", f"{name}2"],
                    [[ids[i], x[i, c1], x[i, c2]] for i in rows])  # fmt: skip
    return paths


def test_no_host_receives_labels_other_columns_or_unshared_ids(tmp_path: Path) -> None:
    paths = _write(tmp_path)
    bank = read_table(paths["bank"], "id", label="y", positive="1")
    specs = [HostSpec(name, paths[name], "id") for name in ("shop", "agency")]
    settings = VerticalSettings(
        boost=GBDTConfig(n_trees=2, max_depth=2), lr=HeteroLRConfig(epochs=1, batch_size=32)
    )
    with Federation(tmp_path, specs, processes=False, guest="bank") as fed:
        for host in fed.local.values():
            host.record = True
        run = run_guest(fed.channel, bank, settings, tmp_path / "run", fed.resilient)
        received = {name: b"".join(h.received) for name, h in fed.local.items()}
    assert run.report["models"]["secureboost"]["auc"] > 0.6
    tables = {name: read_table(paths[name], "id") for name in ("shop", "agency")}
    secrets = {
        "labels": [
            np.asarray(bank.labels, dtype=t).tobytes() for t in ("float64", "int64", "int8", "bool")
        ],
        "bank columns": _encodings(bank.features[:, -2:]),
    }
    for name, blob in received.items():
        assert len(blob) > 10_000
        other = "agency" if name == "shop" else "shop"
        found = [(what, needle) for what, needles in {
            **secrets, f"{other}'s columns": _encodings(tables[other].features),
        }.items() for needle in needles if needle in blob]  # fmt: skip
        assert not found, f"{name} received {found}"
        held = {normalise_id(i) for i in tables[name].ids}
        for raw in bank.ids:
            if normalise_id(raw) not in held:
                assert raw.encode() not in blob and id_digest(raw) not in blob
                assert id_digest(raw).hex().encode() not in blob
    # positive control: the same search finds what a host does receive (its shared IDs' digests)
    shared = next(
        i for i in bank.ids if normalise_id(i) in {normalise_id(k) for k in tables["shop"].ids}
    )
    assert id_digest(shared) in received["shop"]
