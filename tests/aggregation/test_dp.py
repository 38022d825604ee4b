"""Accountant reference values, calibration, and the discrete Gaussian sampler's moments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from veil.aggregation.dp import (
    Accounting,
    PrivacyLedger,
    calibrate_noise_multiplier,
    client_privacy,
    discrete_gaussian,
    epsilon,
)


def test_reference_epsilons():
    # z = 1.0, q = 0.1, 100 steps, δ = 1e-5 (issue 6 reference): 7.90 RDP / 7.05 PLD
    assert epsilon(1.0, 0.1, 100, 1e-5, Accounting.RDP) == pytest.approx(7.90, abs=0.01)
    assert epsilon(1.0, 0.1, 100, 1e-5, Accounting.PLD) == pytest.approx(7.05, abs=0.01)


def test_calibration_hits_target():
    z = calibrate_noise_multiplier(4.0, 1e-5, 1.0, 10)
    assert epsilon(z, 1.0, 10, 1e-5) <= 4.0
    assert epsilon(z * 0.97, 1.0, 10, 1e-5) > 4.0


def test_ledger_grows_every_round():
    led = PrivacyLedger(noise_multiplier=1.5, sampling_rate=1.0, delta=1e-5)
    eps = [led.step() for _ in range(3)]
    assert eps[0] < eps[1] < eps[2]
    assert led.summary()["delta"] == 1e-5
    assert math.isinf(epsilon(0.0, 1.0, 1, 1e-5))


@pytest.mark.parametrize("sigma", [0.7, 3.0, 40.0])
def test_discrete_gaussian_moments(sigma):
    x = discrete_gaussian(sigma, 200_000)
    assert x.dtype == np.int64
    assert abs(x.mean()) < 5 * sigma / math.sqrt(200_000) + 0.01
    # the discrete Gaussian's variance is ≤ σ² and → σ² for σ ≳ 1 (CKS20 Cor. 9)
    assert x.var() == pytest.approx(sigma**2, rel=0.03 if sigma > 1 else 0.15)
    # tails: P(|X| > 5σ) is negligible
    assert np.mean(np.abs(x) > 5 * sigma) < 1e-4


def test_discrete_gaussian_pmf_shape():
    sigma = 2.0
    x = discrete_gaussian(sigma, 400_000)
    ks = np.arange(-4, 5)
    pmf = np.exp(-(ks**2) / (2 * sigma**2))
    pmf /= np.exp(-(np.arange(-40, 41) ** 2) / (2 * sigma**2)).sum()
    emp = np.array([np.mean(x == k) for k in ks])
    assert np.allclose(emp, pmf, atol=0.004)


def test_one_aggregator_epsilon_is_that_of_half_the_noise():
    # an Aggregator that subtracts its own noise share faces variance σ²/2: multiplier z/√2
    # (docs/dp.md example: z = 1, q = 0.1, 100 rounds, δ = 1e-5 → 7.90 outsiders, 16.1 one)
    led = PrivacyLedger(noise_multiplier=1.0, sampling_rate=0.1, delta=1e-5)
    led.rounds = 100
    s = led.summary()
    assert s["epsilon"] == pytest.approx(7.90, abs=0.01)  # unchanged: against outsiders
    assert s["epsilon_one_aggregator"] == pytest.approx(
        epsilon(1 / math.sqrt(2), 0.1, 100, 1e-5), rel=1e-9
    )
    assert s["epsilon_one_aggregator"] == pytest.approx(16.1, abs=0.1)
    p = client_privacy(1.0, 0.3, led)
    assert p["epsilon"] == s["epsilon"]
    assert p["epsilon_one_aggregator"] == s["epsilon_one_aggregator"]
    off = client_privacy(0.0, 0.3, led)
    assert off["epsilon"] is None and off["epsilon_one_aggregator"] is None


def test_calibration_against_one_aggregator():
    z = calibrate_noise_multiplier(4.0, 1e-5, 1.0, 10, against_one_aggregator=True)
    assert z == pytest.approx(math.sqrt(2) * calibrate_noise_multiplier(4.0, 1e-5, 1.0, 10))
    led = PrivacyLedger(noise_multiplier=z, sampling_rate=1.0, delta=1e-5)
    led.rounds = 10
    assert led.epsilon_one_aggregator <= 4.0 + 1e-9
