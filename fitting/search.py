"""Multi-start search for the global minimum of one Huber problem.

Every start of the law's grid (at least as wide as Hoffmann et al.'s) takes a few vectorised
Levenberg-Marquardt steps together; the best starts then run to convergence, and the winner is
polished with scipy's L-BFGS-B at tight tolerances. The distinct local minima found on the way
are kept: bootstrap replicates and held-out refits restart from them, so a replicate whose
global minimum lies in another basin than the full data's still finds it.

On many runs the grid is screened on a spread subsample of the rows, where ranking thousands of
starts costs the same at 100,000 runs as at 1,000; only the few best starts of the subsample
are then solved on every row. Up to _SCREEN_ROWS rows nothing is subsampled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from fitting.laws.base import Array, Law
from fitting.objective import huber_objective, huber_psi
from fitting.solve import DEFAULT_MEMORY_BUDGET, BatchSolution, solve_batch, stationary

# Screening iterations for the whole grid, and how many starts go on to full convergence.
# Measured on the Chinchilla data: after 6 steps the starts that reach the global minimum are
# all among the best 100 (benchmarked against 5,400 full runs).
_SCREEN_ITERATIONS = 6
_SURVIVORS = 128
# Huber threshold, as a multiple of the fit's, at which the grid's survivors first converge.
_SMOOTHING = 10.0
# Rows the grid is screened on. A law has at most a handful of parameters: a thousand runs spread
# over the data pin its objective's landscape far more finely than six screening steps resolve,
# and the screen then costs the same whatever the number of runs.
_SCREEN_ROWS = 1024
# Starts of a subsampled screen solved to convergence on every row: the best of the subsample's
# converged starts (the minima within reach of the global one, with room for near-ties).
_FULL_DATA_STARTS = 16
# Local minima kept as restart points: distinct in raw parameters by at least this much, and
# separated from every better minimum by a rise of the objective along the straight path between
# them (checked at _PATH_POINTS interior points). Without a rise they are one basin: near-L1 losses
# (small delta) leave the solver at several points of one flat valley, and restarting replicates
# from each would multiply the bootstrap's cost for the same end points.
_DISTINCT = 0.05
_PATH_POINTS = 31
_PATH_ELEMENTS = 2**16
# A second basin is kept only if it gives some pilot resample of the rows a better minimum than
# every better basin does (by more than rounding): a restart point no resample needs only
# multiplies the bootstrap's cost. A basin that wins 10% of resamples is missed by 32 pilots
# with probability 0.9^32 = 3%. The pilots' generator is fixed: part of the search, not of the
# caller's bootstrap draw.
_PILOT_RESAMPLES = 32
_PILOT_SEED = 0
_TIE = 1e-9
_MAX_BASINS = 4
# A basin whose full-data objective is more than this many times the best one cannot win a
# bootstrap replicate: resampling moves objectives by a few percent, not by factors.
_BASIN_RATIO = 2.0
# L-BFGS-B stopping rules for the final polish: far tighter than scipy's defaults, which stop early
# on the near-L1 Huber loss (Besiroglu et al. 2024).
_POLISH_TOLERANCES = {"ftol": 1e-15, "gtol": 1e-13, "maxiter": 2000}


@dataclass(frozen=True)
class SearchResult:
    """The best parameters and the distinct local minima (best first) of one problem."""

    theta: Array
    objective: float
    converged: bool
    gradient_norm: float
    basins: Array  # (K, P) distinct local minima, best first (row 0 is theta)
    basin_objectives: Array


def huber_value_and_gradient(
    theta: Array, law: Law, logx: Array, target: Array, weights: Array, delta: float
) -> tuple[float, Array]:
    """Objective and gradient of one problem, in one pass (for scipy)."""
    prediction, jac = law.log_predict(theta[None, :], logx)
    residual = prediction - target[None, :]
    value = huber_objective(residual, weights[None, :], delta)[0]
    gradient = jac[0] @ (weights * huber_psi(residual[0], delta))
    return float(value), gradient


def distinct_minima(
    theta: Array, objective: Array, limit: int, same_basin: Callable[[Array, Array], bool] | None = None
) -> tuple[Array, Array]:
    """Up to `limit` local minima that differ from every better one by more than _DISTINCT (and,
    given `same_basin(better, worse)`, lie in another basin than each of them)."""
    order = np.argsort(objective)
    kept: list[int] = []
    for index in order:
        if all(np.max(np.abs(theta[index] - theta[k])) > _DISTINCT for k in kept) and not (
            same_basin is not None and any(same_basin(theta[k], theta[index]) for k in kept)
        ):
            kept.append(int(index))
            if len(kept) == limit:
                break
    return theta[kept], objective[kept]


def no_barrier(
    law: Law, logx: Array, target: Array, weights: Array, delta: float
) -> Callable[[Array, Array], bool]:
    """same_basin test for distinct_minima: whether the objective stays at or below the worse end
    all along the straight path between two minima (one basin), up to rounding."""

    steps = np.linspace(0.0, 1.0, _PATH_POINTS + 2)[:, None]
    # Rows per evaluation, so that the path's arrays stay small however many runs there are.
    block = max(1, _PATH_ELEMENTS // steps.shape[0])

    def test(better: Array, worse: Array) -> bool:
        path = np.clip(better + steps * (worse - better), law.lower, law.upper)
        values = sum(
            huber_objective(
                law.log_value(path, logx[:, i : i + block]) - target[None, i : i + block],
                weights[None, i : i + block],
                delta,
            )
            for i in range(0, target.shape[0], block)
        )
        return bool(values[1:-1].max() <= max(values[0], values[-1]) * (1.0 + 1e-12))

    return test


def screening_rows(law: Law, logx: Array, n_rows: int) -> Array:
    """Indices of n_rows rows spread evenly over the runs ordered by scale (the smallest and the
    largest included): the subsample the grid is screened on."""
    order = np.argsort(law.log_scale(logx), kind="stable")
    return np.sort(order[np.unique(np.linspace(0, order.size - 1, n_rows).round().astype(int))])


def lbfgs(
    law: Law,
    theta: Array,
    logx: Array,
    target: Array,
    weights: Array,
    delta: float,
    options: dict[str, float] | None = None,
) -> tuple[Array, float]:
    """scipy's L-BFGS-B from theta within the law's bounds (Hoffmann et al.'s optimiser): the end
    point and its objective. options: scipy's (None: its default tolerances, what a plain user runs)."""
    bounds = list(zip(law.lower, law.upper, strict=True))
    result = minimize(
        huber_value_and_gradient,
        theta,
        args=(law, logx, target, weights, delta),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options=options,
    )
    return np.asarray(result.x), float(result.fun)


def polish(
    law: Law, theta: Array, logx: Array, target: Array, weights: Array, delta: float
) -> tuple[Array, float]:
    """Refine a solution with L-BFGS-B at tight tolerances."""
    return lbfgs(law, theta, logx, target, weights, delta, _POLISH_TOLERANCES)


def global_search(
    law: Law,
    logx: Array,
    target: Array,
    delta: float,
    weights: Array | None = None,
    starts: Array | None = None,
    memory_budget: float = DEFAULT_MEMORY_BUDGET,
) -> SearchResult:
    """Minimise the weighted Huber objective from every start (default: the law's grid).

    memory_budget: bytes the solver's working arrays may take at once (fitting.solve)."""
    weights = np.ones(target.shape[0]) if weights is None else weights
    starts = law.grid() if starts is None else starts
    final = _converged_starts(law, logx, target, delta, weights, starts, memory_budget)
    competitive = final.objective <= _BASIN_RATIO * final.objective.min()
    basins, basin_objectives = distinct_minima(
        final.theta[competitive],
        final.objective[competitive],
        _MAX_BASINS,
        no_barrier(law, logx, target, weights, delta),
    )
    basins, basin_objectives = _needed_by_resamples(
        law, logx, target, delta, weights, basins, basin_objectives, memory_budget
    )
    best = int(np.argmin(final.objective))
    theta, objective = final.theta[best], float(final.objective[best])
    polished, polished_objective = polish(law, theta, logx, target, weights, delta)
    if polished_objective < objective:
        theta, objective = polished, polished_objective
        basins = np.vstack([theta, basins[1:]])
        basin_objectives = np.concatenate([[objective], basin_objectives[1:]])
    _, gradient = huber_value_and_gradient(theta, law, logx, target, weights, delta)
    lower, upper = np.asarray(law.lower), np.asarray(law.upper)
    free = ~(((theta <= lower + 1e-9) & (gradient > 0)) | ((theta >= upper - 1e-9) & (gradient < 0)))
    gradient_norm = float(np.max(np.abs(gradient[free]), initial=0.0))
    # Converged: the solver's step test fired, or the (polished) end point is stationary to the
    # data's delta-scaled gradient scale, the test the bootstrap applies to its replicates.
    converged = bool(final.converged[best]) or bool(
        stationary(gradient_norm, delta, float(np.sum(weights)), logx)
    )
    return SearchResult(
        theta=theta,
        objective=objective,
        converged=converged,
        gradient_norm=gradient_norm,
        basins=basins,
        basin_objectives=basin_objectives,
    )


def _needed_by_resamples(
    law: Law,
    logx: Array,
    target: Array,
    delta: float,
    weights: Array,
    basins: Array,
    objectives: Array,
    memory_budget: float,
) -> tuple[Array, Array]:
    """The basins (best first) that some pilot resample of the rows needs as its restart point."""
    n_basins, n_rows = basins.shape[0], target.shape[0]
    if n_basins <= 1:
        return basins, objectives
    rng = np.random.default_rng(_PILOT_SEED)
    counts = rng.multinomial(n_rows, np.full(n_rows, 1.0 / n_rows), size=_PILOT_RESAMPLES) * weights
    solved = solve_batch(
        law,
        np.tile(basins, (_PILOT_RESAMPLES, 1)),
        logx,
        target,
        counts,
        delta,
        weight_rows=np.repeat(np.arange(_PILOT_RESAMPLES), n_basins),
        memory_budget=memory_budget,
    )
    ends = solved.objective.reshape(_PILOT_RESAMPLES, n_basins)
    better_so_far = np.minimum.accumulate(ends, axis=1)
    needed = [0] + [
        k for k in range(1, n_basins) if np.any(ends[:, k] < better_so_far[:, k - 1] * (1 - _TIE))
    ]
    return basins[needed], objectives[needed]


def _converged_starts(
    law: Law, logx: Array, target: Array, delta: float, weights: Array, starts: Array, memory_budget: float
) -> BatchSolution:
    """The grid's best starts run to convergence on every row: screened on all rows when there are
    at most _SCREEN_ROWS, else screened and converged on a spread subsample first."""
    n_rows = target.shape[0]
    if n_rows > _SCREEN_ROWS:
        rows = screening_rows(law, logx, _SCREEN_ROWS)
        sub_logx, sub_target, sub_weights = logx[:, rows], target[rows], weights[rows]
        screened = solve_batch(
            law,
            starts,
            sub_logx,
            sub_target,
            sub_weights,
            delta,
            _SCREEN_ITERATIONS,
            memory_budget=memory_budget,
        )
        order = np.argsort(screened.objective)[:_SURVIVORS]
        on_sample = _solve_from_afar(
            law, screened.theta[order], sub_logx, sub_target, sub_weights, delta, memory_budget
        )
        starts = on_sample.theta[np.argsort(on_sample.objective)[:_FULL_DATA_STARTS]]
        return solve_batch(law, starts, logx, target, weights, delta, memory_budget=memory_budget)
    screened = solve_batch(
        law, starts, logx, target, weights, delta, _SCREEN_ITERATIONS, memory_budget=memory_budget
    )
    starts = screened.theta[np.argsort(screened.objective)[:_SURVIVORS]]
    return _solve_from_afar(law, starts, logx, target, weights, delta, memory_budget)


def _solve_from_afar(
    law: Law, starts: Array, logx: Array, target: Array, weights: Array, delta: float, memory_budget: float
) -> BatchSolution:
    """Starts far from their minimum, run to convergence: first at _SMOOTHING times delta, then at
    delta from there. Far from a minimum most residuals exceed a small delta, the loss is nearly L1
    and Levenberg-Marquardt steps stay short (128 starts took 400 steps each at delta 1e-4 on the
    Chinchilla runs); the smoother loss's minimum is near delta's and is reached in a few dozen.
    The end points are minima at delta all the same (a third of the time at 1e-4, the same best)."""
    smooth = solve_batch(law, starts, logx, target, weights, _SMOOTHING * delta, memory_budget=memory_budget)
    return solve_batch(law, smooth.theta, logx, target, weights, delta, memory_budget=memory_budget)
