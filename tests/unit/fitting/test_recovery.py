"""Known laws with seeded noise: every law family recovers its parameters, and the bootstrap
intervals cover the truth at about their nominal rate without being wider than needed."""

from __future__ import annotations

import numpy as np
import pytest

import fitting
from fitting.synthetic import CHINCHILLA_TRUTH, chinchilla_design, chinchilla_sample, coverage_trials


def test_chinchilla_recovers_parameters():
    n_params, tokens, loss = chinchilla_sample(np.random.default_rng(1), sigma=0.002)
    fit = fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=200, seed=0)
    assert fit.params["E"] == pytest.approx(1.8, abs=0.03)
    assert fit.params["alpha"] == pytest.approx(0.35, abs=0.02)
    assert fit.params["beta"] == pytest.approx(0.37, abs=0.01)
    ci = fit.ci(0.95)
    for name, truth in CHINCHILLA_TRUTH.items():
        assert ci[name][0] <= truth <= ci[name][1], name


def test_noise_free_data_is_fitted_exactly():
    n_params, tokens, loss = chinchilla_sample(np.random.default_rng(0), sigma=0.0)
    fit = fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=0)
    for name, truth in CHINCHILLA_TRUTH.items():
        assert fit.params[name] == pytest.approx(truth, rel=1e-4), name
    assert fit.objective < 1e-12


def test_equal_exponent_law_recovers_parameters():
    n_params, tokens = chinchilla_design()
    loss = 2.0 + 300.0 / n_params**0.3 + 900.0 / tokens**0.3
    loss *= np.exp(np.random.default_rng(2).normal(0, 0.002, loss.size))
    fit = fitting.fit("chinchilla_equal", N=n_params, D=tokens, loss=loss, bootstrap=100, seed=0)
    assert fit.params["alpha"] == pytest.approx(0.3, abs=0.01)
    assert fit.params["E"] == pytest.approx(2.0, abs=0.03)
    assert set(fit.params) == {"E", "A", "B", "alpha"}


def test_kaplan_law_recovers_parameters():
    n_params, tokens = chinchilla_design()
    n_c, d_c, alpha_n, alpha_d = 8.8e13, 5.4e13, 0.076, 0.095  # Kaplan et al. 2020, table 5 scale
    loss = ((n_c / n_params) ** (alpha_n / alpha_d) + d_c / tokens) ** alpha_d
    loss *= np.exp(np.random.default_rng(3).normal(0, 0.001, loss.size))
    fit = fitting.fit("kaplan", N=n_params, D=tokens, loss=loss, bootstrap=100, seed=0)
    assert fit.params["alpha_N"] == pytest.approx(alpha_n, abs=0.005)
    assert fit.params["alpha_D"] == pytest.approx(alpha_d, abs=0.005)
    assert np.log(fit.params["N_c"]) == pytest.approx(np.log(n_c), abs=1.0)
    prediction = fit.predict(N=1e10, D=2e11)
    truth = ((n_c / 1e10) ** (alpha_n / alpha_d) + d_c / 2e11) ** alpha_d
    assert prediction.lo < truth < prediction.hi


@pytest.mark.parametrize("variable", ["N", "C"])
def test_power_law_recovers_parameters(variable):
    x = np.logspace(17, 21, 25) if variable == "C" else np.logspace(6, 10, 25)
    loss = 1.7 + (30.0 if variable == "C" else 40.0) * x ** (-0.05 if variable == "C" else -0.2)
    loss *= np.exp(np.random.default_rng(4).normal(0, 0.001, loss.size))
    fit = fitting.fit("power", loss=loss, bootstrap=100, seed=0, **{variable: x})
    assert fit.params["alpha"] == pytest.approx(0.05 if variable == "C" else 0.2, rel=0.1)
    assert fit.params["E"] == pytest.approx(1.7, abs=0.1)
    assert fit.variable == variable
    assert fit.predict(**{variable: x[-1] * 10}).value < loss.min()


@pytest.mark.slow
def test_interval_coverage_and_width_over_repeated_trials():
    """40 datasets: 95% intervals cover the truth in >= 85% of trials (the 200-trial benchmark
    asks 90%) and are no wider than 1.6x the spread of the point estimates calls for."""
    trials = 40
    covered, widths, estimates = coverage_trials(
        np.random.default_rng(123), trials, draw=chinchilla_sample, truth=CHINCHILLA_TRUTH
    )
    for name in CHINCHILLA_TRUTH:
        assert covered[name] / trials >= 0.85, (name, covered[name])
        needed = 3.92 * np.std(estimates[name])  # width of a normal 95% interval with that spread
        assert np.median(widths[name]) <= 1.6 * needed, (name, np.median(widths[name]), needed)
