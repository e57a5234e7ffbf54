"""Fit.evaluator: the point estimate and the draws as one read-only batch in both parameterisations,
converted once, with the law's compute-optimal closed form (Hoffmann et al. 2022, eq. 4) where the
law has one; the allocation it gives is the minimum of the law along C = 6ND."""

from __future__ import annotations

import numpy as np
import pytest

import fitting
from fitting.synthetic import chinchilla_sample


@pytest.fixture(scope="module")
def fit() -> fitting.Fit:
    n_params, tokens, loss = chinchilla_sample(np.random.default_rng(4))
    return fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=30, seed=0)


def test_rows_are_the_point_then_the_draws_and_are_read_only(fit):
    rows = fit.evaluator
    assert rows is fit.evaluator  # converted once
    np.testing.assert_array_equal(rows.theta[0], fit.theta)
    np.testing.assert_allclose(rows.natural[1:], fit.draws, rtol=1e-12)
    assert rows.natural[0] == pytest.approx([fit.params[k] for k in fit.param_names], rel=1e-12)
    for array in (rows.theta, rows.natural, *rows.optimal_split):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0.0


def test_closed_form_split_is_the_minimum_along_an_isoflop_line(fit):
    log_g, exponent = fit.evaluator.optimal_split
    compute = 1e22
    n_opt = np.exp(log_g[0] + exponent[0] * np.log(compute / 6.0))
    grid = n_opt * np.exp(np.linspace(-0.01, 0.01, 201))
    losses = fit.predict(N=grid, D=compute / (6.0 * grid)).value
    assert abs(int(np.argmin(losses)) - 100) <= 1


def test_a_law_without_a_closed_form_has_no_split():
    n_params = np.repeat(np.logspace(7, 9, 4), 3)
    tokens = n_params * np.tile([10.0, 30.0, 100.0], 4)
    loss = ((8.8e13 / n_params) ** (0.076 / 0.095) + 5.4e13 / tokens) ** 0.095
    kaplan = fitting.fit("kaplan", N=n_params, D=tokens, loss=loss, bootstrap=0)
    assert kaplan.evaluator.optimal_split is None
