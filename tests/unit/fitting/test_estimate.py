"""Estimate built from bootstrap samples: on the natural scale (shaped like the query, plain floats
for a scalar) and on the log scale (exp of the point and of the percentile interval of the finite
log draws), each with NaN bounds when there is no draw."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fitting import Estimate


def test_from_log_draws_is_the_exp_of_the_log_percentile_interval():
    log_draws = np.random.default_rng(0).normal(2.0, 0.3, 400)
    estimate = Estimate.from_log_draws(2.1, log_draws, 0.9)
    lo, hi = np.percentile(log_draws, [5.0, 95.0])
    assert estimate.value == pytest.approx(math.exp(2.1), rel=1e-15)
    assert (estimate.lo, estimate.hi) == pytest.approx((math.exp(lo), math.exp(hi)), rel=1e-12)
    assert estimate.level == 0.9


def test_from_log_draws_leaves_out_replicates_without_a_value():
    log_draws = np.array([0.0, np.nan, 1.0, np.inf, 2.0])
    assert Estimate.from_log_draws(1.0, log_draws, 0.5) == Estimate.from_log_draws(
        1.0, log_draws[[0, 2, 4]], 0.5
    )
    empty = Estimate.from_log_draws(0.0, np.array([np.nan]), 0.95)
    assert empty.value == 1.0 and math.isnan(empty.lo) and math.isnan(empty.hi)


def test_from_samples_keeps_the_query_shape_and_gives_floats_for_a_scalar():
    samples = np.random.default_rng(1).normal(size=(300, 2))
    shaped = Estimate.from_samples(np.array([0.1, 0.2]), samples, 0.95, (2,))
    assert shaped.lo.shape == (2,) and np.all(shaped.lo < shaped.hi)
    scalar = Estimate.from_samples(np.float64(0.1), samples[:, 0], 0.95)
    assert all(type(v) is float for v in (scalar.value, scalar.lo, scalar.hi))
    assert scalar.lo == pytest.approx(float(np.percentile(samples[:, 0], 2.5)), rel=1e-12)
    none = Estimate.from_samples(0.1, np.empty(0), 0.95)
    assert math.isnan(none.lo) and math.isnan(none.hi)
