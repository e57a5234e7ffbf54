"""The two-batch gradient-noise-scale estimator (McCandlish et al. 2018, App. A) recovers a known
|G|^2 and tr(Sigma) from simulated gradients, and its EMA converges to B_simple."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.noise import NoiseScale, two_batch_estimates


def test_exact_expectations_give_exact_estimates():
    g_sq, trace = 2.0, 600.0
    small, big = 100, 800
    est = two_batch_estimates(g_sq + trace / small, small, g_sq + trace / big, big)
    assert est == pytest.approx((g_sq, trace))


def test_simulated_gradients_recover_b_simple():
    rng = np.random.default_rng(0)
    dim, small, big = 50, 8, 64
    mean = np.full(dim, 0.1)  # |G|^2 = 0.5
    sigma = 0.3  # per-sample noise std in each coordinate: tr(Sigma) = 50 * 0.09 = 4.5
    noise = NoiseScale(decay=0.99)
    for _ in range(3000):
        samples = mean + sigma * rng.standard_normal((big, dim))
        g_small = samples[:small].mean(0)
        g_big = samples.mean(0)
        noise.update(float(g_small @ g_small), small, float(g_big @ g_big), big)
    assert noise.value == pytest.approx(4.5 / 0.5, rel=0.1)


def test_undefined_until_the_signal_is_positive():
    noise = NoiseScale()
    assert noise.value is None
    noise.update(1.0, 10, 1.0, 20)  # no noise reduction at all: tr(Sigma) = 0, |G|^2 = 1
    assert noise.value == 0.0
    with pytest.raises(ValueError, match="small_tokens"):
        two_batch_estimates(1.0, 20, 1.0, 10)
