"""Compute-optimal frontier from proxies (Hoffmann et al. 2022 approaches 1 and 2): the exponent
a = beta/(alpha+beta) recovered from synthetic Chinchilla curves and IsoFLOP profiles, and Porian
et al. 2024's published exponents reproduced from their IsoFLOP points and optima."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from fitting.frontier import envelope_frontier, frontier_power_laws, isoflop_frontier
from fitting.synthetic import CHINCHILLA_TRUTH

T = CHINCHILLA_TRUTH
A_TRUE = T["beta"] / (T["alpha"] + T["beta"])  # Hoffmann et al. 2022, eq. 4


def chinchilla_loss(n_params: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    return T["E"] + T["A"] / n_params ** T["alpha"] + T["B"] / tokens ** T["beta"]


def test_envelope_of_loss_curves_recovers_the_allocation_exponents():
    run, sizes, seen, losses = [], [], [], []
    for i, n_params in enumerate(np.logspace(7, 9.5, 30)):
        tokens = np.logspace(np.log10(n_params), np.log10(n_params) + 2.7, 40)
        run += [i] * tokens.size
        sizes += [n_params] * tokens.size
        seen += list(tokens)
        losses += list(chinchilla_loss(n_params, tokens))
    frontier = envelope_frontier(run=run, N=sizes, tokens=seen, loss=losses, bootstrap=200, seed=0)
    assert frontier.approach == 1
    assert frontier.exponent_n.value == pytest.approx(A_TRUE, abs=0.01)
    assert frontier.exponent_d.value == pytest.approx(1 - A_TRUE, abs=0.01)
    assert frontier.exponent_n.lo <= frontier.exponent_n.value <= frontier.exponent_n.hi


def isoflop_sample(
    rng: np.random.Generator, sigma: float = 0.002, low_shift: float = 0.0
) -> dict[str, np.ndarray]:
    """8 budgets from 1e18 to 1e21 FLOPs, 9 model sizes per budget spanning 1/8x to 8x the optimum
    (the smallest budget's sizes moved up by low_shift e-folds)."""
    compute, sizes = [], []
    for budget in np.logspace(18, 21, 8):
        n_opt = (T["alpha"] * T["A"] / (T["beta"] * T["B"])) ** (1 / (T["alpha"] + T["beta"])) * (
            budget / 6
        ) ** A_TRUE
        shift = low_shift if budget == 1e18 else 0.0
        grid = n_opt * np.exp(np.linspace(-2.1, 2.1, 9) + rng.uniform(-0.2, 0.2) + shift)
        compute += [budget] * grid.size
        sizes += list(grid)
    compute, sizes = np.array(compute), np.array(sizes)
    loss = chinchilla_loss(sizes, compute / (6 * sizes)) * np.exp(rng.normal(0, sigma, sizes.size))
    return {"compute": compute, "N": sizes, "loss": loss}


def test_isoflop_profiles_recover_the_allocation_exponents_with_covering_intervals():
    frontier = isoflop_frontier(**isoflop_sample(np.random.default_rng(0)), bootstrap=300, seed=0)
    assert frontier.approach == 2
    assert frontier.exponent_n.value == pytest.approx(A_TRUE, abs=0.02)
    assert frontier.exponent_n.lo <= A_TRUE <= frontier.exponent_n.hi
    assert frontier.exponent_n.value + frontier.exponent_d.value == pytest.approx(1.0, abs=1e-9)
    n_opt, d_opt = frontier.predict(1e22)
    assert n_opt.lo < n_opt.value < n_opt.hi
    assert 6 * n_opt.value * d_opt.value == pytest.approx(1e22, rel=1e-6)
    again = isoflop_frontier(**isoflop_sample(np.random.default_rng(0)), bootstrap=300, seed=0)
    np.testing.assert_array_equal(frontier.draws, again.draws)


def test_budget_whose_best_model_is_the_smallest_tried_is_flagged_edge():
    sample = isoflop_sample(np.random.default_rng(1), low_shift=2.6)  # all above that optimum
    frontier = isoflop_frontier(**sample, bootstrap=50, seed=0)
    assert frontier.optima[0].status == "edge"
    assert any("left out of the frontier" in w for w in frontier.warnings)


def _porian(shared_data: Path, name: str, config: str) -> list[dict[str, str]]:
    with (shared_data / "porian2024_isoflop" / name).open() as handle:
        return [row for row in csv.DictReader(handle) if row["config_id"] == config]


TUNED = "rw|tuned|short|const|standard|val"


@pytest.mark.data
def test_porian_power_law_step_reproduces_every_published_exponent_to_four_decimals(shared_data):
    """SOURCE.md: WLS of log N_opt on log C with weights 1/N_opt_logstd^2 gives the stored exponents."""
    published = json.loads((shared_data / "porian2024_isoflop" / "fit_results.json").read_text())
    for config, fits in published.items():
        rows = [r for r in _porian(shared_data, "isoflop_optima.csv", config) if r["N_opt"]]
        frontier = frontier_power_laws(
            [float(r["flops"]) for r in rows],
            [float(r["N_opt"]) for r in rows],
            [float(r["D_opt"]) for r in rows],
            log_std=[float(r["N_opt_logstd"]) for r in rows],
            bootstrap=0,
        )
        assert frontier.exponent_n.value == pytest.approx(fits["weighted"]["n_exponent"], abs=1e-4), config
        assert frontier.coef_n.value == pytest.approx(fits["weighted"]["n_coef"], rel=1e-3), config


@pytest.mark.data
def test_porian_isoflop_points_give_the_published_exponent_for_the_tuned_setting(shared_data):
    """Porian et al. 2024, Table 2 ("Optimizer tuning (no decay)"): a = 0.497 (0.49, 0.50). From the
    raw IsoFLOP points, our bowl minima and weighted fit land within 0.01 of 0.497, and our interval
    contains it."""
    rows = _porian(shared_data, "isoflop_points.csv", TUNED)
    frontier = isoflop_frontier(
        compute=[float(r["flops"]) for r in rows],
        N=[float(r["N"]) for r in rows],
        D=[float(r["D"]) for r in rows],
        loss=[float(r["loss"]) for r in rows],
        weighted=True,
        bootstrap=500,
        seed=0,
    )
    assert frontier.exponent_n.value == pytest.approx(0.497, abs=0.01)
    assert frontier.exponent_n.lo <= 0.497 <= frontier.exponent_n.hi
    assert frontier.exponent_d.value == pytest.approx(0.503, abs=0.01)


def test_frontier_refuses_too_few_budgets():
    with pytest.raises(ValueError, match="IsoFLOP profiles need 3 or more budgets"):
        isoflop_frontier(compute=[1e18] * 5, N=np.logspace(7, 8, 5), loss=[3.0] * 5)


def test_a_stored_frontier_predicts_exactly_as_the_fitted_one():
    import fitting

    frontier = isoflop_frontier(**isoflop_sample(np.random.default_rng(1)), bootstrap=100, seed=0)
    restored = fitting.load_fit(json.loads(json.dumps(frontier.to_dict())))
    assert isinstance(restored, fitting.Frontier) and restored.approach == 2
    assert restored.to_dict() == frontier.to_dict()
    for ours, theirs in zip(restored.predict(1e21), frontier.predict(1e21), strict=True):
        assert (ours.value, ours.lo, ours.hi) == (theirs.value, theirs.lo, theirs.hi)
        assert ours.lo < ours.value < ours.hi
