"""Critical-batch inputs from loss curves and storage: steps to a target read off noisy and sparse
curves of known shape, targets every curve reaches, smoothing without lag, and the to_dict /
from_dict round trips (PowerLaw, CriticalBatch, CriticalBatchCurve, and load_fit's dispatch)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fitting
from fitting import (
    CriticalBatch,
    CriticalBatchCurve,
    PowerLaw,
    critical_batch_curve,
    shared_targets,
    smooth_loss,
    steps_to_target,
)


def power_curve(steps: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """L(S) = 2 + 30 (scale S)^-0.5: a Kaplan-like curve in steps; a larger scale trains faster."""
    return 2.0 + 30.0 * (scale * steps) ** -0.5


def test_steps_to_target_on_a_sparse_power_law_curve():
    steps = np.array([10.0, 40.0, 160.0, 640.0, 2560.0])
    loss = 30.0 * steps**-0.5  # a pure power law: log-log interpolation is exact between points
    targets = np.array([2.0, 0.9, 0.7, 10.0, 0.1])
    found = steps_to_target(steps, loss, targets)
    exact = (30.0 / targets[:3]) ** 2
    np.testing.assert_allclose(found[:3], exact, rtol=1e-9)
    assert np.isnan(found[3])  # already below at the first point: the crossing is unknown
    assert np.isnan(found[4])  # never reached


def test_steps_to_target_on_a_noisy_train_curve_with_smoothing():
    rng = np.random.default_rng(0)
    steps = np.arange(1.0, 2001.0)
    clean = power_curve(steps)
    noisy = clean * np.exp(rng.normal(0.0, 0.01, steps.size))
    targets = np.array([3.0, 2.8, 2.7])
    truth = (30.0 / (targets - 2.0)) ** 2
    smoothed = steps_to_target(steps, noisy, targets, window=51)
    raw = steps_to_target(steps, noisy, targets, window=1)
    # Smoothed: within 5% of the truth; raw first crossings come early, pulled by lucky low points.
    np.testing.assert_allclose(smoothed, truth, rtol=0.05)
    assert np.all(raw < truth)
    assert np.mean(np.abs(raw / truth - 1)) > 2 * np.mean(np.abs(smoothed / truth - 1))


def test_smoothing_is_centred_and_refuses_even_windows():
    line = np.linspace(5.0, 1.0, 9)
    np.testing.assert_allclose(smooth_loss(line, 3)[1:-1], line[1:-1])  # no lag on a straight line
    assert smooth_loss(line, 3)[0] == pytest.approx((5.0 + 4.5) / 2)
    with pytest.raises(ValueError, match="odd"):
        smooth_loss(line, 4)
    with pytest.raises(ValueError, match="increase"):
        steps_to_target([1.0, 1.0, 2.0], [3.0, 2.0, 1.0], 1.5)


def test_shared_targets_lie_inside_every_curve():
    steps = np.arange(1.0, 1001.0)
    curves = [power_curve(steps, scale) for scale in (0.5, 1.0, 2.0, 4.0)]
    targets = shared_targets(curves, count=5)
    assert targets.size == 5 and np.all(np.diff(targets) > 0)
    assert targets[0] > max(c.min() for c in curves)
    for curve in curves:
        reached = steps_to_target(steps, curve, targets)
        assert np.all(np.isfinite(reached)) and np.all(reached >= 0.1 * steps.size)
    assert shared_targets([np.array([3.0, 2.0, 1.0]), np.array([9.0, 8.0, 7.0])]).size == 0


def _curve() -> CriticalBatchCurve:
    rng = np.random.default_rng(1)
    rows = {"batch": [], "steps": [], "target_loss": []}
    for loss in np.linspace(2.8, 4.2, 4):
        b_crit = 2e8 / loss ** (1 / 0.21)
        batch = b_crit * np.logspace(-1.5, 1.5, 8)
        rows["batch"] += list(batch)
        rows["steps"] += list(1e4 * loss**-6 * (1 + b_crit / batch) * np.exp(rng.normal(0, 0.01, batch.size)))
        rows["target_loss"] += [loss] * batch.size
    return critical_batch_curve(**rows, bootstrap=50, seed=0)


def test_critical_batch_curve_round_trips_through_json():
    curve = _curve()
    data = json.loads(json.dumps(curve.to_dict()))
    restored = fitting.load_fit(data)
    assert isinstance(restored, CriticalBatchCurve)
    assert restored.to_dict() == curve.to_dict()
    for loss in (2.5, 3.3):
        assert restored.b_crit(loss) == curve.b_crit(loss)
    assert restored.loss_range == pytest.approx((2.8, 4.2))
    law = PowerLaw.from_dict(curve.law.to_dict())
    np.testing.assert_array_equal(law.draws, curve.law.draws)
    one = CriticalBatch.from_dict(curve.per_target[0].to_dict())
    assert one.to_dict() == curve.per_target[0].to_dict() and one.draws.size == 0


def test_load_fit_dispatches_on_the_stored_kind():
    rng = np.random.default_rng(2)
    n_params = np.repeat([1e7, 3e7, 1e8, 3e8], 3)
    tokens = np.tile([1e9, 3e9, 1e10], 4)
    loss = (1.7 + 400 / n_params**0.34 + 410 / tokens**0.28) * np.exp(rng.normal(0, 1e-3, 12))
    loss_fit = fitting.fit("chinchilla", loss=loss, N=n_params, D=tokens, bootstrap=5, seed=0)
    assert isinstance(fitting.load_fit(loss_fit.to_dict()), fitting.Fit)
    assert fitting.load_fit(loss_fit.to_dict()).predict(N=1e9, D=2e10) == loss_fit.predict(N=1e9, D=2e10)
    with pytest.raises(ValueError, match="law"):
        fitting.load_fit({"params": {}})
