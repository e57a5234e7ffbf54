"""Every result's to_dict() names its "kind", and load_fit restores each kind through JSON to an
object that gives the same stored form and the same predictions; a dict without a known kind is
refused with a message saying what is missing."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fitting
from tests.unit.fitting.test_minimum import envelope_points, isoflop_runs, loss_runs, sweeps, tradeoff_rows


def through_json(result):
    data = json.loads(json.dumps(result.to_dict()))
    return data, fitting.load_fit(data)


def test_loss_fit_round_trips_as_kind_loss():
    fit = fitting.fit("chinchilla", **loss_runs(12), bootstrap=5, seed=0)
    data, restored = through_json(fit)
    assert data["kind"] == "loss" and isinstance(restored, fitting.Fit)
    assert restored.to_dict() == data
    assert restored.predict(N=1e10, D=2e11) == fit.predict(N=1e10, D=2e11)


def test_optimum_fit_round_trips_as_kind_optimum():
    fit = fitting.fit("lr_opt", **sweeps("lr_opt", 5, 6), bootstrap=5, seed=0)
    data, restored = through_json(fit)
    assert data["kind"] == "optimum" and isinstance(restored, fitting.OptimumFit)
    assert restored.to_dict() == data
    assert restored.predict(N=1e9, D=2e10) == fit.predict(N=1e9, D=2e10)


def test_critical_batch_curve_round_trips_as_kind_critical_batch():
    curve = fitting.critical_batch_curve(**tradeoff_rows(3, 4), bootstrap=5, seed=0)
    data, restored = through_json(curve)
    assert data["kind"] == "critical_batch" and isinstance(restored, fitting.CriticalBatchCurve)
    assert restored.to_dict() == data
    assert restored.b_crit(3.5) == curve.b_crit(3.5)


@pytest.mark.parametrize("approach", [1, 2])
def test_frontier_round_trips_as_kind_frontier(approach):
    if approach == 1:
        frontier = fitting.envelope_frontier(**envelope_points(3, 4), bootstrap=5, seed=0)
    else:
        frontier = fitting.isoflop_frontier(**isoflop_runs(4, 6), bootstrap=5, seed=0)
    data, restored = through_json(frontier)
    assert data["kind"] == "frontier" and isinstance(restored, fitting.Frontier)
    assert restored.to_dict() == data
    np.testing.assert_equal(  # NaN bounds where no replicate kept an interior optimum
        [e.to_dict() for e in restored.predict(1e22)], [e.to_dict() for e in frontier.predict(1e22)]
    )


@pytest.mark.parametrize(
    "data", [{"law": "chinchilla", "params": {}}, {"kind": "parabola"}, {"kind": ["loss"]}]
)
def test_a_dict_without_a_known_kind_is_refused(data):
    with pytest.raises(
        ValueError, match=r"needs a 'kind' \(one of loss, optimum, critical_batch, frontier\)"
    ):
        fitting.load_fit(data)


def test_a_stored_fit_is_a_dict():
    with pytest.raises(ValueError, match="is a dict from to_dict"):
        fitting.load_fit([("kind", "loss")])  # type: ignore[arg-type]


def test_restored_draws_are_the_stored_ones():
    fit = fitting.fit(
        "power", N=np.logspace(6, 10, 8), loss=1.7 + 40.0 * np.logspace(6, 10, 8) ** -0.2, bootstrap=5
    )
    _, restored = through_json(fit)
    np.testing.assert_array_equal(restored.draws, fit.draws)
