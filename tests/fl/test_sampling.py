"""Cross-device rounds: Poisson/fixed sampling, dropouts, late reports, a deadline that closes
the round, and reports that stream to the Leader in bounded memory."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from veil.aggregation.testing import make_consortium
from veil.errors import ConfigError
from veil.fl.engine import PlainAggregation, RoundEngine
from veil.fl.local_config import ClientUpdate, TrainConfig
from veil.fl.local_pool import InProcessClients
from veil.fl.sampling import Fate, Sampling
from veil.fl.strategies import FedAvg


class Nudge:
    """A device whose update moves every parameter by its own value (numpy only)."""

    def __init__(self, name: str, value: float, sleep: float = 0.0) -> None:
        self.name, self.value, self.sleep = name, value, sleep

    def fit(self, global_vec: np.ndarray, cfg: TrainConfig, *, seed: int) -> ClientUpdate:
        time.sleep(self.sleep)
        return ClientUpdate((global_vec + self.value).astype(np.float32), 1, 0.0)


def test_poisson_draw_is_reproducible_and_has_the_expected_size():
    s = Sampling(rate=0.02, dropout=0.1, late=0.1)
    sizes = []
    for rnd in range(1, 41):
        chosen, fates = s.draw(7, rnd, 10_000)
        again, fates2 = s.draw(7, rnd, 10_000)
        assert np.array_equal(chosen, again) and fates == fates2
        assert np.all(np.diff(chosen) > 0) and chosen.max() < 10_000
        sizes.append(chosen.size)
    assert abs(np.mean(sizes) - 200) < 3 * np.sqrt(200 / 40)  # Poisson: mean qN, var ≈ qN
    assert len(set(sizes)) > 5  # the size varies from round to round, as Poisson's does
    fates = [f for rnd in range(1, 41) for f in s.draw(7, rnd, 10_000)[1]]
    assert 0.07 < fates.count(Fate.DROPPED) / len(fates) < 0.13
    assert 0.07 < fates.count(Fate.LATE) / len(fates) < 0.13
    assert not np.array_equal(s.draw(7, 1, 10_000)[0], s.draw(7, 2, 10_000)[0])


def test_fixed_size_draw():
    chosen, fates = Sampling(size=50).draw(0, 3, 1000)
    assert chosen.size == 50 == len(set(chosen.tolist())) and fates == [Fate.ON_TIME] * 50
    with pytest.raises(ConfigError):
        Sampling(size=50).draw(0, 1, 10)


@pytest.mark.parametrize(
    "kw",
    [{}, {"rate": 0.1, "size": 3}, {"rate": 0.0}, {"rate": 1.5}, {"size": 0},
     {"rate": 0.1, "dropout": 0.6, "late": 0.5}, {"rate": 0.1, "deadline": 0}],
)  # fmt: skip
def test_bad_sampling_is_refused(kw):
    with pytest.raises(ConfigError):
        Sampling(**kw)


def test_accounting_needs_poisson_at_the_tasks_rate():
    Sampling(rate=0.02).check_accounting(0.02, noise=True)
    Sampling(size=10).check_accounting(1.0, noise=False)  # no DP: any sampling
    with pytest.raises(ConfigError, match="Poisson"):
        Sampling(size=10).check_accounting(0.02, noise=True)
    with pytest.raises(ConfigError, match=r"q=0\.05"):
        Sampling(rate=0.05).check_accounting(0.02, noise=True)


def _engine(devices, sampling, min_clients=1):
    pool = InProcessClients(devices, seed=3, sampling=sampling)
    return RoundEngine(
        pool, PlainAggregation(FedAvg(), min_clients), rounds=5, train=TrainConfig(),
        pool_samples=True,
    )  # fmt: skip


def test_a_sampled_round_asks_only_the_sample_and_survives_dropouts():
    devices = [Nudge(f"d{i}", 1.0) for i in range(2000)]
    sampling = Sampling(rate=0.05, dropout=0.2, late=0.1)
    result = _engine(devices, sampling).run(np.zeros(4, np.float32))
    for rec in result.records:
        chosen, fates = sampling.draw(3, rec.round, 2000)
        d = rec.to_dict()
        assert d["sampled"] == chosen.size
        assert d["dropped"] == fates.count(Fate.DROPPED)
        assert d["late"] == fates.count(Fate.LATE)
        on_time = {f"d{k}" for k, f in zip(chosen.tolist(), fates, strict=True)
                   if f is Fate.ON_TIME}  # fmt: skip
        assert set(rec.accepted) == on_time and not rec.rejected
        assert rec.bytes_down == 16 * chosen.size  # the model goes to the sampled devices only
    assert np.allclose(result.vector, 5.0)  # every round's mean moved the model by 1


def test_the_deadline_closes_a_round_of_slow_devices():
    devices = [Nudge(f"d{i}", 1.0, sleep=0.05) for i in range(40)]
    t0 = time.perf_counter()
    rec = _engine(devices, Sampling(size=40, deadline=0.3)).round(1, np.zeros(2, np.float32),
                                                                 TrainConfig())[1]  # fmt: skip
    assert time.perf_counter() - t0 < 1.5  # not 40 × 0.05 s = 2 s
    d = rec.to_dict()
    assert (
        d["sampled"] == 40 and 3 <= len(rec.accepted) <= 10 and d["late"] == 40 - len(rec.accepted)
    )


def test_too_few_reports_leave_the_model_unchanged():
    devices = [Nudge(f"d{i}", 1.0) for i in range(100)]
    rec = _engine(devices, Sampling(rate=0.03, dropout=0.9), min_clients=20).round(
        1, np.zeros(2, np.float32), TrainConfig()
    )[1]
    assert rec.failure is not None and "fewer than 20" in rec.failure


def _leader_peak(n_reports: int, dim: int = 2000) -> int:
    cons = make_consortium(n_clients=n_reports, dimension=dim, max_batch=8, min_reports=1)
    leader, _ = cons.in_process()
    builders = [cons.builder(f"c{i}") for i in range(n_reports)]
    rng = np.random.default_rng(0)
    deltas = rng.normal(0, 0.01, (1, dim))

    def stream():
        for b in builders:  # each report is made when the Leader asks for it
            yield b.build(1, deltas[0], 1).encode()

    tracemalloc.start()
    try:
        res = leader.aggregate_round(1, stream())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(res.accepted) == n_reports
    return peak


def test_the_leader_verifies_a_stream_in_bounded_memory():
    small, large = _leader_peak(8), _leader_peak(64)
    assert large < 1.5 * small, (small, large)  # 8× the reports, not 8× the memory
