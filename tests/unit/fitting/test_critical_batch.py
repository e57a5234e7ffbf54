"""Critical batch size: McCandlish's steps-examples trade-off, Kaplan's B_crit(L) and Zhang's
B_crit power law recover their parameters from data drawn from those exact relations (Kaplan's
B* = 2e8 tokens, alpha_B = 0.21 as the truth), and the Kaplan step law L(N, S_min) is recovered."""

from __future__ import annotations

import numpy as np
import pytest

from fitting import (
    critical_batch_curve,
    critical_batch_scaling,
    fit_step_law,
    steps_examples_tradeoff,
)

B_STAR, ALPHA_B = 2e8, 0.21  # Kaplan et al. 2020, eq. 5.1 constants (../shared published_constants)


def tradeoff_runs(b_crit: float, s_min: float, rng: np.random.Generator, sigma: float = 0.02):
    batch = b_crit * np.logspace(-1.5, 1.5, 10)
    steps = s_min * (1 + b_crit / batch) * np.exp(rng.normal(0, sigma, batch.size))  # eq. 2.11
    return batch, steps


def test_mccandlish_tradeoff_recovers_b_crit_and_s_min():
    batch, steps = tradeoff_runs(5e5, 2000.0, np.random.default_rng(0))
    fit = steps_examples_tradeoff(batch, steps, bootstrap=500, seed=0)
    assert fit.b_crit.value == pytest.approx(5e5, rel=0.1)
    assert fit.s_min.value == pytest.approx(2000.0, rel=0.05)
    assert fit.e_min.value == pytest.approx(fit.b_crit.value * fit.s_min.value, rel=1e-9)
    assert fit.b_crit.lo <= 5e5 <= fit.b_crit.hi
    assert not fit.at_edge
    exact = steps_examples_tradeoff(*tradeoff_runs(5e5, 2000.0, np.random.default_rng(0), 0.0), bootstrap=0)
    assert exact.b_crit.value == pytest.approx(5e5, rel=1e-3)


def test_b_crit_beyond_the_batches_tried_is_flagged():
    batch = np.logspace(3, 4, 6)
    steps = 1000.0 * (1 + 1e8 / batch)
    fit = steps_examples_tradeoff(batch, steps, bootstrap=0)
    assert fit.at_edge and fit.warnings


def test_kaplan_critical_batch_curve_recovers_b_star_and_alpha_b():
    rng = np.random.default_rng(1)
    rows = {"batch": [], "steps": [], "target_loss": []}
    for loss in np.linspace(2.8, 4.2, 6):
        b_crit = B_STAR / loss ** (1 / ALPHA_B)  # Kaplan et al. 2020, eq. 5.1
        batch, steps = tradeoff_runs(b_crit, 1e4 * loss**-6, rng, sigma=0.01)
        rows["batch"] += list(batch)
        rows["steps"] += list(steps)
        rows["target_loss"] += [loss] * batch.size
    curve = critical_batch_curve(**rows, bootstrap=300, seed=0)
    assert curve.alpha_b.value == pytest.approx(ALPHA_B, rel=0.1)
    assert curve.alpha_b.lo <= ALPHA_B <= curve.alpha_b.hi
    assert curve.b_star.value == pytest.approx(B_STAR, rel=0.5)
    at_three = curve.b_crit(3.0)
    assert at_three.value == pytest.approx(B_STAR / 3.0 ** (1 / ALPHA_B), rel=0.1)


def test_zhang_power_law_in_data_recovers_the_exponent():
    rng = np.random.default_rng(2)
    tokens = np.logspace(9, 11, 10)
    n_params = np.tile([1.5e8, 6e8], 5)
    b_crit = 30.0 * tokens**0.47 * np.exp(rng.normal(0, 0.05, tokens.size))
    law = critical_batch_scaling(b_crit=b_crit, D=tokens, N=n_params, bootstrap=500, seed=0)
    assert law.exponents["D"].value == pytest.approx(0.47, abs=0.05)
    assert law.exponents["D"].lo <= 0.47 <= law.exponents["D"].hi
    assert law.exponents["N"].lo <= 0.0 <= law.exponents["N"].hi
    assert law.predict(D=1e12, N=1e9).value == pytest.approx(30.0 * 1e12**0.47, rel=0.3)


def test_kaplan_step_law_is_recovered_and_predicts_other_batch_sizes():
    truth = {"N_c": 8.8e13, "S_c": 2.1e3, "alpha_N": 0.076, "alpha_S": 0.76}

    def loss_of(n_params: float, s_min: np.ndarray) -> np.ndarray:
        return (truth["N_c"] / n_params) ** truth["alpha_N"] + (truth["S_c"] / s_min) ** truth["alpha_S"]

    rows = {"N": [], "steps": [], "batch": [], "loss": []}
    rng = np.random.default_rng(3)
    for n_params in np.logspace(6, 8, 5):
        for batch in (2**17, 2**19):
            s_min = np.logspace(2.5, 4.5, 12)
            loss = loss_of(n_params, s_min)
            b_crit = B_STAR / loss ** (1 / ALPHA_B)
            steps = s_min * (1 + b_crit / batch)  # inverse of S_min = S/(1 + B_crit/B), eq. 5.4
            rows["N"] += [n_params] * s_min.size
            rows["steps"] += list(steps)
            rows["batch"] += [batch] * s_min.size
            rows["loss"] += list(loss * np.exp(rng.normal(0, 0.002, s_min.size)))
    law = fit_step_law(**rows, b_star=B_STAR, alpha_b=ALPHA_B, bootstrap=100, seed=0)
    assert law.params["alpha_N"] == pytest.approx(0.076, abs=0.01)
    assert law.params["alpha_S"] == pytest.approx(0.76, abs=0.05)
    # A trajectory point at a batch size never trained: S steps at B = 2^21.
    s_min = 3000.0
    expected = loss_of(1e7, np.array([s_min]))[0]
    steps = s_min * (1 + B_STAR / expected ** (1 / ALPHA_B) / 2**21)
    predicted = law.predict(N=1e7, steps=steps, batch=2**21)
    assert predicted.value == pytest.approx(expected, rel=0.01)
    assert predicted.lo <= predicted.value <= predicted.hi


def test_bad_critical_batch_input_is_refused():
    with pytest.raises(ValueError, match="needs runs at 3 or more batch sizes"):
        steps_examples_tradeoff([1e5, 1e5, 2e5], [10.0, 11.0, 7.0])
    with pytest.raises(ValueError, match="steps must be positive"):
        steps_examples_tradeoff([1e5, 2e5, 4e5], [10.0, 0.0, 7.0])
    with pytest.raises(ValueError, match="needs D="):
        critical_batch_scaling(b_crit=[1e5, 2e5, 3e5])
