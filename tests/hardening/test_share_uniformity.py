"""Input privacy, measured: one Aggregator's PINE input share of a FIXED update looks uniform.

Architecture guarantee 3: neither Aggregator alone learns anything about a client's update,
because what it holds is an additive share that is uniformly random on its own. Here one
fixed gradient is sharded N times (fresh randomness each time, from a fixed seed) and we
test, over the N reports, the shares each Aggregator would hold:

* the Leader's measurement share and proofs share (sent expanded),
* the Helper's measurement share and proofs share, expanded from its seeds exactly as
  ``verify_init`` expands them.

For every coordinate (≈ 3,700 per share) three chi-square statistics with K = 17 cells
(16 degrees of freedom) against the exact uniform probabilities on Z_p:

* **high**: ⌊x·17/p⌋ — the value's position in the field (a short mask, a missing mask);
* **low**: x mod 17 — low-order structure (parity-like biases);
* **pair**: (x_i − x_{i+1}) mod p, high cells — adjacent coordinates are independent (a
  mask reused across coordinates makes this constant).

Each statistic is judged twice: the sum over coordinates (χ² with 16·C degrees of freedom,
Wilson–Hilferty) and the worst coordinate (exact χ²₁₆ tail, Bonferroni over C). That is
4 shares × 3 statistics × 2 = 24 decisions at α = 1e-4 each: with a fresh random seed the
test would fail by chance with probability ≤ 0.24 %; with the fixed seed it is
deterministic. The controls show the same decision rule rejects shares that leak: no mask,
a mask drawn from [0, 2⁶²) instead of the field, a mask missing in 2 % of reports, and a
mask reused across adjacent coordinates.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from veil.vdaf.pine import Pine64, PineHelperShare, PineLeaderShare, norm_bound_from_float

P = 18446744069414584321  # Field64
K = 17
ALPHA = 1e-4
N_REPORTS = 1000
UPDATE = [0.5, -0.25, 0.125, 0.0, -0.5, 0.25, 0.375, -0.125]  # fixed; ‖·‖₂ ≈ 0.90 ≤ 1


def _cells_high(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell ⌊x·K/p⌋ (exact, by searchsorted on the integer boundaries) and cell probabilities."""
    bounds = [-(-k * P // K) for k in range(K + 1)]  # ceil(k·p/K)
    cells = np.searchsorted(np.array(bounds[1:-1], dtype=np.uint64), x, side="right")
    probs = np.array([(bounds[k + 1] - bounds[k]) / P for k in range(K)])
    return cells, probs


def _cells_low(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell x mod K, with the exact probability of each residue among 0 … p−1."""
    probs = np.array([(P - 1 - r) // K + 1 for r in range(K)], dtype=float) / P
    return (x % np.uint64(K)).astype(np.int64), probs


def _chi2_per_coordinate(cells: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """cells: (N, C) cell indices; returns C chi-square statistics (K − 1 df each)."""
    n, c = cells.shape
    flat = (np.arange(c)[None, :] * K + cells).ravel()
    observed = np.bincount(flat, minlength=c * K).reshape(c, K)
    expected = n * probs[None, :]
    return ((observed - expected) ** 2 / expected).sum(axis=1)


def _sf_chi2_even(x: float, df: int) -> float:
    """Exact upper tail of χ² with an even number of degrees of freedom."""
    half, term, total = x / 2, 1.0, 0.0
    for i in range(df // 2):
        term = 1.0 if i == 0 else term * half / i
        total += term
    return math.exp(-half) * total


def _sf_chi2_large(x: float, df: int) -> float:
    """Upper tail of χ² for large df (Wilson–Hilferty cube-root normal approximation)."""
    z = ((x / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))
    return 0.5 * math.erfc(z / math.sqrt(2))


def p_values(share: np.ndarray) -> dict[str, float]:
    """For an (N, C) matrix of field elements: p-values of the six decisions."""
    x = share.astype(np.uint64)
    diff = x[:, :-1] - x[:, 1:]  # (x_i − x_{i+1}) mod p, in wrapping uint64 arithmetic
    diff = np.where(x[:, :-1] >= x[:, 1:], diff, diff + np.uint64(P))
    out = {}
    for name, (cells, probs) in {
        "high": _cells_high(x),
        "low": _cells_low(x),
        "pair": _cells_high(diff),
    }.items():
        stats = _chi2_per_coordinate(cells, probs)
        out[f"{name}/sum"] = _sf_chi2_large(float(stats.sum()), (K - 1) * len(stats))
        out[f"{name}/worst"] = min(1.0, len(stats) * _sf_chi2_even(float(stats.max()), K - 1))
    return out


def looks_uniform(share: np.ndarray) -> bool:
    return min(p_values(share).values()) > ALPHA


def collect_shares() -> dict[str, np.ndarray]:
    """N reports of the same update: the four shares, as (N, C) uint64 matrices."""
    vdaf = Pine64(norm_bound_from_float(1.0, 10), 10, len(UPDATE), 4, 2)
    rng = np.random.default_rng(20261129)
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("lm", "lp", "hm", "hp", "meas")}
    for _ in range(N_REPORTS):
        _, (leader, helper) = vdaf.shard_with_retry(UPDATE, rng.bytes(16), rng=rng.bytes)
        assert isinstance(leader, PineLeaderShare) and isinstance(helper, PineHelperShare)
        hm = vdaf.helper_meas_share(1, helper.meas_share_seed)
        rows["lm"].append(leader.meas_share)
        rows["lp"].append(leader.proofs_share)
        rows["hm"].append(hm)
        rows["hp"].append(vdaf.helper_proofs_share(1, helper.proofs_share_seed))
        rows["meas"].append(vdaf.field.add(leader.meas_share, hm))  # the encoded update
    out = {k: np.stack(v) for k, v in rows.items()}
    # the update is fixed: its gradient part is the same in every report
    assert (out["meas"][:, : len(UPDATE)] == out["meas"][0, : len(UPDATE)]).all()
    return out


@pytest.fixture(scope="module")
def shares() -> dict[str, np.ndarray]:
    return collect_shares()


@pytest.mark.parametrize(
    "which",
    ["lm", "lp", "hm", "hp"],
    ids=["leader-meas", "leader-proofs", "helper-meas", "helper-proofs"],
)
def test_one_aggregators_share_is_uniform(shares, which: str) -> None:
    pv = p_values(shares[which])
    assert min(pv.values()) > ALPHA, pv


def _sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a - b
    return np.where(a >= b, d, d + np.uint64(P))


def test_control_unmasked_update_is_detected(shares) -> None:
    assert not looks_uniform(shares["meas"])


def test_control_short_mask_is_detected(shares) -> None:
    """A mask drawn from [0, 2^62) instead of Z_p (e.g. a wrong bit mask in sampling)."""
    rng = np.random.default_rng(1)
    mask = rng.integers(0, 2**62, size=shares["meas"].shape, dtype=np.uint64)
    assert not looks_uniform(_sub(shares["meas"], mask))


def test_control_mask_missing_in_two_percent_of_reports_is_detected(shares) -> None:
    leaky = shares["lm"].copy()
    every = 50
    leaky[::every] = shares["meas"][::every]
    assert not looks_uniform(leaky)


def test_control_mask_reused_across_coordinates_is_detected(shares) -> None:
    """Marginally uniform, but adjacent coordinates share a mask: only 'pair' sees it."""
    hm = shares["hm"].copy()
    hm[:, 1::2] = hm[:, 0:-1:2]
    leaky = _sub(shares["meas"], hm)
    pv = p_values(leaky)
    assert pv["high/sum"] > ALPHA and pv["low/sum"] > ALPHA  # marginals still look uniform
    assert not looks_uniform(leaky)


def test_statistics_are_calibrated() -> None:
    """Truly uniform draws (numpy, rejection sampling mod p) pass; the tails are right."""
    assert abs(_sf_chi2_even(16.0, 16) - 0.4530) < 1e-3  # χ²₁₆ median region (table value)
    assert abs(_sf_chi2_large(16_000 * 1.0, 16_000) - 0.5) < 0.01
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2**64 - 1, size=(N_REPORTS, 500), dtype=np.uint64, endpoint=True)
    x = np.where(x < np.uint64(P), x, x - np.uint64(P))  # bias ≤ 2^-32: invisible at this N
    assert looks_uniform(x)
