"""The solver's memory follows its budget, not the runs times the problems: chunks of problems and
blocks of rows are sized from memory_budget, the answers do not depend on it, and the grid search
on many runs (screened on a subsample) finds the minimum the full search finds."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import fitting.search as search
from fitting.bootstrap import resample_weights
from fitting.laws import CHINCHILLA
from fitting.solve import chunk_shape, solve_batch
from fitting.synthetic import CHINCHILLA_TRUTH


def many_runs(n_runs: int, seed: int = 0, sigma: float = 0.01):
    """log inputs and log losses of n_runs runs of the known law, log-uniform over the
    fitting.synthetic design's range."""
    rng = np.random.default_rng(seed)
    n_params = np.exp(rng.uniform(np.log(1e7), np.log(10**9.5), n_runs))
    tokens = n_params * np.exp(rng.uniform(0.0, np.log(10**2.5), n_runs))
    t = CHINCHILLA_TRUTH
    loss = (t["E"] + t["A"] / n_params ** t["alpha"] + t["B"] / tokens ** t["beta"]) * np.exp(
        rng.normal(0.0, sigma, n_runs)
    )
    return np.log(np.stack([n_params, tokens])), np.log(loss)


def starts_near_truth(count: int, seed: int = 1) -> np.ndarray:
    truth = CHINCHILLA.from_natural(np.array([[CHINCHILLA_TRUTH[k] for k in CHINCHILLA.param_names]]))
    return truth + np.random.default_rng(seed).normal(0.0, 0.05, (count, CHINCHILLA.n_params))


@pytest.mark.parametrize("budget", [2**20, 4 * 2**20])
def test_peak_memory_stays_within_the_budget(budget):
    """64 problems on 20,000 rows: the Jacobian of all of them at once alone would be 51 MB."""
    logx, target = many_runs(20_000)
    starts, weights = starts_near_truth(64), np.ones((64, target.size))
    tracemalloc.start()
    solve_batch(CHINCHILLA, starts, logx, target, weights, 1e-3, max_iter=3, memory_budget=budget)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak <= budget, (peak, budget)


def test_chunks_shrink_with_the_rows_and_the_budget():
    assert chunk_shape(240, 5) == (136, 240)  # small data: many problems, every row at once
    assert chunk_shape(100_000, 5) == (1, 8192)  # large data: one problem, blocks of rows
    problems, rows = chunk_shape(100_000, 5, memory_budget=2**20)
    assert problems == 1 and rows * 8 * (4 * 5 + 16) <= 2**20


def test_answers_do_not_depend_on_the_budget():
    """Row blocks change only the order of summation: the same end points to rounding."""
    logx, target = many_runs(3000)
    starts = starts_near_truth(8)
    weights = resample_weights(target.size, 8, np.random.default_rng(2))
    whole = solve_batch(CHINCHILLA, starts, logx, target, weights, 1e-3)
    blocked = solve_batch(CHINCHILLA, starts, logx, target, weights, 1e-3, memory_budget=2**18)
    assert chunk_shape(3000, 5, 2**18)[1] < 3000
    np.testing.assert_allclose(blocked.objective, whole.objective, rtol=1e-10)
    np.testing.assert_allclose(blocked.theta, whole.theta, atol=1e-6)
    assert blocked.converged.all() and whole.converged.all()


def test_shared_weight_rows_give_the_same_answer_as_copies():
    """Starts of one resample share its row of small-integer counts instead of float copies."""
    logx, target = many_runs(500)
    counts = resample_weights(target.size, 4, np.random.default_rng(3)).astype(np.uint8)
    starts = starts_near_truth(8)
    rows = np.repeat(np.arange(4), 2)
    shared = solve_batch(CHINCHILLA, starts, logx, target, counts, 1e-3, weight_rows=rows)
    copied = solve_batch(CHINCHILLA, starts, logx, target, counts[rows].astype(float), 1e-3)
    np.testing.assert_array_equal(shared.theta, copied.theta)
    np.testing.assert_array_equal(shared.objective, copied.objective)


@pytest.mark.slow
def test_subsampled_grid_search_finds_the_full_search_minimum(monkeypatch):
    """2,000 runs: the grid screened on 1,024 of them reaches the minimum that screening every
    start on every run reaches."""
    logx, target = many_runs(2000, seed=4)
    subsampled = search.global_search(CHINCHILLA, logx, target, 1e-3)
    monkeypatch.setattr(search, "_SCREEN_ROWS", 10**9)
    full = search.global_search(CHINCHILLA, logx, target, 1e-3)
    assert subsampled.objective <= full.objective * (1 + 1e-12)
    np.testing.assert_allclose(subsampled.theta, full.theta, atol=1e-5)
    assert subsampled.converged
