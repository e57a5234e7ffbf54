"""Bootstrap over runs: resample rows (or whole groups of rows: every checkpoint of one run
together) with replacement, refit every replicate to its own global minimum, and account for the
replicates that fail.

Every replicate restarts from each distinct local minimum of the full-data search (the point
estimate first), all replicates and starts advancing together in one vectorised solve, and
keeps its best end point. Replicates run to the solver's convergence test, not to a default
tolerance: with the near-L1 Huber loss (delta = 1e-3) a loosely stopped replicate stays near
its start and the intervals come out several times too narrow (Besiroglu et al. 2024).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fitting.laws.base import Array, Law
from fitting.solve import BatchSolution, solve_batch

# Starts of a replicate take this many steps together; only those within _KEEP_RATIO of the
# replicate's best objective then run on to convergence.
_SCREEN_ITERATIONS = 8
_KEEP_RATIO = 1.25
# A replicate counts as failed if it hit the iteration cap or ends with a projected gradient
# this far from zero, relative to the gradient scale of one residual at the Huber threshold.
_GRADIENT_TOLERANCE = 1e-6
# Replicates whose resample counts are drawn at once (bounds the int64 draw buffer).
_DRAW_BATCH = 100
# Replicates solved together between two progress reports: each replicate is its own problem, so
# the answers do not depend on it.
SOLVE_BATCH = 100

# progress(replicates done, replicates in all), called after each batch; it may raise to stop.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BootstrapResult:
    """Raw parameters of the replicates that converged, and how many failed."""

    theta: Array  # (n_ok, P)
    objective: Array  # (n_ok,)
    n_replicates: int
    n_failed: int
    iterations: Array  # (n_replicates,) iterations of the winning start


def resample_weights(
    n_rows: int, n_replicates: int, rng: np.random.Generator, groups: Array | None = None
) -> Array:
    """Row counts of `n_replicates` resamples with replacement, as floats: multinomial(n, 1/n) per
    replicate (see resample_counts, which draws the same counts)."""
    return resample_counts(n_rows, n_replicates, rng, groups).astype(float)


def resample_counts(
    n_rows: int, n_replicates: int, rng: np.random.Generator, groups: Array | None = None
) -> Array:
    """Row counts of `n_replicates` resamples with replacement: multinomial(n, 1/n) per replicate.

    groups: each row's group code 0..G-1 (fitting.cuts.group_codes). Then G groups are drawn with
    replacement, multinomial(G, 1/G), and every row of a group weighs its group's count: the
    checkpoints of one run enter a replicate together or not at all. With every row its own group
    in row order this is the row bootstrap, draw for draw.

    The counts come back as the smallest unsigned integer type that holds them (a count never
    exceeds the number of draws), drawn _DRAW_BATCH replicates at a time: 1000 replicates of
    100,000 runs take 100 MB as uint8, against 800 MB as floats. The random stream is the same.
    """
    n_draws = n_rows if groups is None else int(groups.max()) + 1
    counts = np.empty((n_replicates, n_rows), dtype=np.min_scalar_type(n_draws))
    p = np.full(n_draws, 1.0 / n_draws)
    for start in range(0, n_replicates, _DRAW_BATCH):
        stop = min(start + _DRAW_BATCH, n_replicates)
        drawn = rng.multinomial(n_draws, p, size=stop - start)
        counts[start:stop] = drawn if groups is None else drawn[:, groups]
    return counts


def bootstrap_fit(
    law: Law,
    logx: Array,
    target: Array,
    delta: float,
    starts: Array,
    n_replicates: int,
    rng: np.random.Generator,
    groups: Array | None = None,
    progress: Progress | None = None,
) -> BootstrapResult:
    """Refit `n_replicates` resamples of the rows (of whole groups, when `groups` gives each row's
    group code), each from every start in `starts` (K, P).

    The resamples are drawn up front, then solved SOLVE_BATCH replicates at a time, with
    `progress(done, n_replicates)` after each batch: an exception it raises stops the bootstrap.
    """
    weights = resample_counts(target.shape[0], n_replicates, rng, groups)
    parts = []
    for start in range(0, n_replicates, SOLVE_BATCH):
        stop = min(start + SOLVE_BATCH, n_replicates)
        parts.append(_solve_replicates(law, logx, target, delta, starts, weights[start:stop]))
        if progress is not None:
            progress(stop, n_replicates)
    if not parts:
        parts.append(_solve_replicates(law, logx, target, delta, starts, weights))
    return BootstrapResult(
        theta=np.concatenate([p.theta for p in parts]),
        objective=np.concatenate([p.objective for p in parts]),
        n_replicates=n_replicates,
        n_failed=sum(p.n_failed for p in parts),
        iterations=np.concatenate([p.iterations for p in parts]),
    )


def _solve_replicates(
    law: Law, logx: Array, target: Array, delta: float, starts: Array, weights: Array
) -> BootstrapResult:
    """Refit the resamples whose row counts are `weights` (R, n), each from every start."""
    n_rows = target.shape[0]
    n_replicates = weights.shape[0]
    n_starts = starts.shape[0]
    # The starts of one replicate share its row of counts instead of each holding a copy.
    weight_rows = np.repeat(np.arange(n_replicates), n_starts)
    all_starts = np.tile(starts, (n_replicates, 1))
    if n_starts > 1:
        screened = solve_batch(
            law,
            all_starts,
            logx,
            target,
            weights,
            delta,
            max_iter=_SCREEN_ITERATIONS,
            weight_rows=weight_rows,
        )
        screen_objective = screened.objective.reshape(n_replicates, n_starts)
        keep = (screen_objective <= _KEEP_RATIO * screen_objective.min(axis=1, keepdims=True)).ravel()
        all_starts = np.where(keep[:, None], screened.theta, all_starts)
    else:
        keep = np.ones(n_replicates, dtype=bool)
    solution = _solve_kept(law, all_starts, logx, target, weights, weight_rows, delta, keep)
    objective = solution.objective.reshape(n_replicates, n_starts)
    winner = np.argmin(objective, axis=1)
    pick = np.arange(n_replicates) * n_starts + winner
    gradient_scale = delta * n_rows * max(1.0, float(np.max(np.abs(logx))))
    ok = solution.converged[pick] & (solution.gradient_norm[pick] <= _GRADIENT_TOLERANCE * gradient_scale)
    return BootstrapResult(
        theta=solution.theta[pick][ok],
        objective=solution.objective[pick][ok],
        n_replicates=n_replicates,
        n_failed=int(np.sum(~ok)),
        iterations=solution.iterations[pick],
    )


def _solve_kept(
    law: Law,
    starts: Array,
    logx: Array,
    target: Array,
    weights: Array,
    weight_rows: Array,
    delta: float,
    keep: Array,
) -> BatchSolution:
    """Run the kept starts to convergence; dropped ones get an infinite objective."""
    kept = solve_batch(law, starts[keep], logx, target, weights, delta, weight_rows=weight_rows[keep])
    n_total = starts.shape[0]
    theta = starts.copy()
    objective = np.full(n_total, np.inf)
    converged = np.zeros(n_total, dtype=bool)
    iterations = np.zeros(n_total, dtype=int)
    gradient_norm = np.full(n_total, np.inf)
    theta[keep], objective[keep], converged[keep] = kept.theta, kept.objective, kept.converged
    iterations[keep], gradient_norm[keep] = kept.iterations, kept.gradient_norm
    return BatchSolution(theta, objective, converged, iterations, gradient_norm)
