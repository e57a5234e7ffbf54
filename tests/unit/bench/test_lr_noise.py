"""bench.lr_noise's arithmetic: the pooled scatter of losses per seed, and the chance that a
predictor at the true optimum meets lr_transfer's 1% loss target against a noisy sweep."""

from __future__ import annotations

import numpy as np
import pytest

from bench.lr_noise import DEFAULT_CURVATURE, perfect_predictor_pass_rate, relative_scatter


def test_relative_scatter_pools_seeds_around_their_own_means():
    rng = np.random.default_rng(0)
    # Two seeds at different levels (2.0 and 2.1), each with 0.5% relative scatter.
    losses = np.array([2.0, 2.1])[:, None] * (1.0 + rng.normal(0.0, 0.005, (2, 4000)))
    assert relative_scatter(losses) == pytest.approx(0.005, rel=0.03)
    assert relative_scatter(np.full((2, 6), 2.0)) == 0.0


def test_a_perfect_predictor_always_passes_without_scatter_and_less_often_with_it():
    assert perfect_predictor_pass_rate(0.0, 2, DEFAULT_CURVATURE) == 1.0
    rates = [perfect_predictor_pass_rate(s, 2, DEFAULT_CURVATURE) for s in (0.002, 0.005, 0.01, 0.02)]
    assert rates[0] > 0.99
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))
    # With a 1% target and a seed mean 1.4% noisy, the best of 9 noisy points is far below the truth.
    assert rates[-1] < 0.5
    # More seeds per LR average the scatter down.
    assert perfect_predictor_pass_rate(0.01, 8, DEFAULT_CURVATURE) > rates[2]
