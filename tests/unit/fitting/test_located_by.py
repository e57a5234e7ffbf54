"""Every sweep and IsoFLOP-budget optimum says how it was located: a 3-run and a 5-run sweep by the
small-sweep rule's vertex, a 9-run sweep by the quadratic bowl (its 2% window holds 6 runs, too few
for the cubic's 8) or, on a flatter landscape whose window holds all 9, the cubic bowl; IsoFLOP
budgets of 3 runs by the vertex and of 9 by the quadratic; the law counts its optima by method, and
the counts survive storage."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fitting
from fitting.frontier import Frontier, isoflop_frontier
from fitting.result import OptimumFit
from tests.unit.fitting.test_frontier_small import budgets
from tests.unit.fitting.test_small_sweeps import small_sweeps


def flatter(runs: dict, factor: float) -> dict:
    """The same sweeps with every bowl's log-loss rise above its sweep's best run scaled by factor
    (the noise is scaled with it)."""
    log_loss = np.log(runs["loss"])
    cells = np.unique(np.column_stack([runs["N"], runs["D"]]), axis=0, return_inverse=True)[1].ravel()
    best = np.array([log_loss[cells == c].min() for c in range(cells.max() + 1)])[cells]
    return {**runs, "loss": np.exp(best + factor * (log_loss - best))}


@pytest.mark.parametrize(
    ("n_lrs", "factor", "method"),
    [(3, 1.0, "vertex"), (5, 1.0, "vertex"), (9, 1.0, "quadratic"), (9, 0.05, "cubic")],
)
def test_each_sweep_optimum_names_its_method_and_the_law_counts_them(n_lrs, factor, method):
    runs = flatter(small_sweeps(n_lrs, np.random.default_rng(n_lrs)), factor)
    fit = fitting.fit("lr_opt", **runs, form="steplaw", bootstrap=50)
    found = [o for o in fit.optima if o.status == "found"]
    assert len(found) >= 12
    assert {o.located_by for o in found} == {method}
    assert fit.located_by == {method: len(found)}
    small_rule = [w for w in fit.warnings if "small-sweep rule" in w]
    if method == "vertex":
        assert len(small_rule) == 1
        assert f"The law rests on {len(found)} sweep optima: {len(found)} by the vertex" in small_rule[0]
    else:
        assert small_rule == []
    stored = json.loads(json.dumps(fit.to_dict()))
    assert stored["located_by"] == {method: len(found)}
    assert {o["located_by"] for o in stored["optima"] if o["status"] == "found"} == {method}
    assert OptimumFit.from_dict(stored).optima == fit.optima


def test_a_mixed_study_counts_bowls_and_small_sweeps_apart():
    full = small_sweeps(9, np.random.default_rng(0), sizes=(1e8, 4e8))
    small = small_sweeps(3, np.random.default_rng(1), sizes=(1.6e9,))
    runs = {k: np.concatenate([full[k], small[k]]) for k in full}
    fit = fitting.fit("lr_opt", **runs, form="steplaw", bootstrap=50)
    assert fit.located_by == {"quadratic": 6, "vertex": 3}
    assert all(o.located_by == "quadratic" for o in fit.optima if o.N < 1e9)


def test_the_band_method_names_the_band():
    fit = fitting.fit(
        "lr_opt", **small_sweeps(9, np.random.default_rng(4)), form="steplaw", method="band", bootstrap=20
    )
    assert set(fit.located_by) == {"band"}


def test_a_sweep_too_small_to_locate_names_no_method():
    runs = small_sweeps(9, np.random.default_rng(5))
    two = np.flatnonzero(runs["N"] == 1e8)[:2]  # the first (N, D) sweep cut to 2 learning rates
    keep = np.ones(runs["N"].size, dtype=bool)
    keep[np.flatnonzero(runs["N"] == 1e8)[2:9]] = False
    runs = {k: v[keep] for k, v in runs.items()}
    fit = fitting.fit("lr_opt", **runs, form="steplaw", bootstrap=20)
    cut = [o for o in fit.optima if o.N == 1e8 and o.n_runs == two.size]
    assert len(cut) == 1 and cut[0].status == "too_few_runs" and cut[0].located_by == ""


@pytest.mark.parametrize(("per_budget", "method"), [(3, "vertex"), (9, "quadratic")])
def test_isoflop_budgets_name_their_method(per_budget, method):
    frontier = isoflop_frontier(**budgets(np.random.default_rng(per_budget), per_budget), bootstrap=50)
    found = [o for o in frontier.optima if o.status == "found"]
    assert len(found) >= 7 and {o.located_by for o in found} == {method}
    assert frontier.located_by == {method: len(found)}
    stored = json.loads(json.dumps(frontier.to_dict()))
    assert stored["located_by"] == {method: len(found)}
    assert Frontier.from_dict(stored).optima == frontier.optima


def test_a_budget_stored_as_bowl_reads_as_quadratic():
    frontier = isoflop_frontier(**budgets(np.random.default_rng(9), 9), bootstrap=10)
    stored = frontier.to_dict()
    for o in stored["optima"]:
        o["located_by"] = "bowl" if o["located_by"] == "quadratic" else o["located_by"]
    assert Frontier.from_dict(stored).located_by == frontier.located_by
