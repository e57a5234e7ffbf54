"""Sweeps of 3 to 5 learning rates (common in published grids): every sweep is located by the
small-sweep rule, named in a warning, and the lr_opt law recovers the known law of synthetic bowls;
laws on few optima or a narrow range of N say so."""

from __future__ import annotations

import numpy as np
import pytest

import fitting
from fitting.bowl import small_sweep_optimum

TRUTH = (1.79, -0.713, 0.307)  # Step Law (Li et al. 2025): LR_opt = a N^b D^c


def small_sweeps(
    n_lrs: int, rng: np.random.Generator, sizes=(1e8, 2e8, 4e8, 8e8, 1.6e9), sigma=0.0005
) -> dict:
    """(N, D) cells at 20, 60 and 200 tokens per parameter, each n_lrs learning rates a factor 2
    apart around the true optimum (shifted by up to half a step at random), loss = base times a
    bowl in log LR with curvature 0.02 and noise sigma."""
    runs = {k: [] for k in ("N", "D", "lr", "loss")}
    for n_params in sizes:
        for ratio in (20.0, 60.0, 200.0):
            tokens = ratio * n_params
            lr_opt = TRUTH[0] * n_params ** TRUTH[1] * tokens ** TRUTH[2]
            steps = np.log(2.0) * (np.arange(n_lrs) - (n_lrs - 1) / 2 + rng.uniform(-0.5, 0.5))
            base = 1.8 + 400 / n_params**0.34 + 2000 / tokens**0.28
            for step in steps:
                runs["N"].append(n_params)
                runs["D"].append(tokens)
                runs["lr"].append(lr_opt * np.exp(step))
                runs["loss"].append(base * np.exp(0.02 * step**2 + rng.normal(0.0, sigma)))
    return {k: np.asarray(v) for k, v in runs.items()}


@pytest.mark.parametrize("n_lrs", [3, 5])
def test_sweeps_of_three_and_five_learning_rates_give_the_law_with_a_warning(n_lrs):
    """Every sweep is used (none dropped), the warning names the rule, and the law is within 0.05 of
    the true exponents and within 10% of the true optimum 8x beyond the largest model (seeds 0-3
    give 0.4%-4.4% for 3 learning rates, under 1% for 5)."""
    runs = small_sweeps(n_lrs, np.random.default_rng(n_lrs))
    fit = fitting.fit("lr_opt", **runs, form="steplaw", bootstrap=200, seed=0)
    found = [o for o in fit.optima if o.status == "found"]
    edge = [o for o in fit.optima if o.status == "edge"]
    assert len(found) + len(edge) == 15 and len(found) >= 12
    assert any("small-sweep rule" in w for w in fit.warnings)
    assert fit.params["b"] == pytest.approx(TRUTH[1], abs=0.05)
    assert fit.params["c"] == pytest.approx(TRUTH[2], abs=0.05)
    n_params, tokens = 1.28e10, 2.56e11
    truth = TRUTH[0] * n_params ** TRUTH[1] * tokens ** TRUTH[2]
    predicted = fit.predict(N=n_params, D=tokens)
    assert predicted.value == pytest.approx(truth, rel=0.1)
    assert predicted.lo < predicted.value < predicted.hi
    # Each small sweep's interval is the bracket between its best run's neighbours.
    for optimum in found:
        assert optimum.lr.lo < optimum.lr.value < optimum.lr.hi
        assert optimum.lr.hi / optimum.lr.lo == pytest.approx(4.0, rel=1e-6)


def test_small_sweeps_mixed_with_full_ones_keep_the_full_ones_bowls():
    full = small_sweeps(9, np.random.default_rng(0), sizes=(1e8, 4e8))
    small = small_sweeps(3, np.random.default_rng(1), sizes=(1.6e9,))
    runs = {k: np.concatenate([full[k], small[k]]) for k in full}
    fit = fitting.fit("lr_opt", **runs, form="steplaw", bootstrap=100, seed=0)
    full_sweeps = [o for o in fit.optima if o.N < 1e9]
    assert all(o.lr.level == 0.95 for o in full_sweeps if o.lr is not None)  # bootstrap intervals
    assert [w for w in fit.warnings if "small-sweep rule" in w][0].startswith("3 sweep(s)")


def test_a_law_on_few_optima_over_a_narrow_range_of_n_warns():
    runs = small_sweeps(5, np.random.default_rng(2), sizes=(1e8, 2e8))
    runs = {k: v[runs["D"] < 100 * runs["N"]] for k, v in runs.items()}  # 4 sweeps: 20 and 60 tokens/param
    fit = fitting.fit("lr_opt", **runs, form="steplaw", bootstrap=50, seed=0)
    assert any("rests on" in w and "fewer than 6" in w for w in fit.warnings)
    assert any("span 2x in N (less than 4x)" in w for w in fit.warnings)
    wide = fitting.fit("lr_opt", **small_sweeps(9, np.random.default_rng(3)), form="steplaw", bootstrap=50)
    assert not any("rests on" in w or "less than 4x" in w for w in wide.warnings)


def test_small_sweep_rule_takes_the_vertex_inside_the_bracket_else_the_centre():
    log_lr = np.log([1e-3, 2e-3, 4e-3])
    bowl = 0.02 * (log_lr - np.log(2.5e-3)) ** 2
    vertex = small_sweep_optimum(log_lr[None, :], bowl, bootstrap=4)
    assert vertex.located_by == "vertex" and vertex.status == "found"
    assert np.exp(vertex.log_point[0]) == pytest.approx(2.5e-3, rel=1e-9)
    assert vertex.log_draws.shape == (4, 1)
    # Five runs: the parabola through the best run and its two neighbours, not through all five
    # (the far runs of an asymmetric landscape would pull a parabola through all of them).
    five = np.log([1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2])
    skewed = np.array([0.04, 0.01, 0.0, 0.01, 0.2])  # the last run near divergence
    local = small_sweep_optimum(five[None, :], skewed, bootstrap=0)
    assert local.located_by == "vertex" and np.exp(local.log_point[0]) == pytest.approx(4e-3)
    assert np.exp(local.log_bounds[:, 0]) == pytest.approx([2e-3, 8e-3])
    # Two axes: the centre of the runs within 0.25% of the best (here the best two).
    lr, batch = np.meshgrid([1e-3, 2e-3, 4e-3], [1e5, 2e5, 4e5])
    grid = np.log(np.stack([lr.ravel(), batch.ravel()]))
    losses = np.array([0.01, 0.002, 0.02, 0.01, 0.0, 0.02, 0.03, 0.03, 0.04])
    centre = small_sweep_optimum(grid, losses, bootstrap=0)
    assert centre.located_by == "centre" and centre.status == "found"
    assert np.exp(centre.log_point) == pytest.approx([2e-3, np.sqrt(2) * 1e5])
    # Best run on the edge: located, but flagged "edge" and so left out of the law.
    assert small_sweep_optimum(log_lr[None, :], np.array([0.0, 0.01, 0.02]), 0).status == "edge"
