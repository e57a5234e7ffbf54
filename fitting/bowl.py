"""The optimum of one sweep: a robust quadratic of log loss in the log of the swept quantity (LR,
batch size, or model size on an IsoFLOP profile) fitted to the runs near the best one, its
stationary point the optimum, and a bootstrap over those runs for its interval.

Near its minimum any smooth loss landscape is a quadratic (its second-order model); the Step Law
paper reports the (log LR, log B) landscape convex with a broad basin (Li et al. 2025, sec. 3), and
Hoffmann et al. 2022 (approach 2) fit a parabola to each IsoFLOP profile in log N.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitting.bootstrap import resample_weights
from fitting.laws.base import Array
from fitting.laws.hparams import BOWL_1D, BOWL_2D, bowl_minimum
from fitting.solve import solve_batch

# A bowl is fitted to at least its parameters + BOWL_EXTRA_RUNS runs (room for the bootstrap)
# spanning at least BOWL_MIN_VALUES distinct values of every swept axis (a parabola through fewer
# is determined exactly, with no residual to judge it by).
BOWL_EXTRA_RUNS = 3
BOWL_MIN_VALUES = 3


@dataclass(frozen=True)
class BowlOptimum:
    """One sweep's optimum on the log scale, or why there is none.

    status: "found" (interior), "edge" (beyond the swept range, or the best run on its edge),
    "not_convex" (the quadratic has no minimum) or "too_few_runs".
    """

    status: str
    log_point: Array | None  # (k,) log optimum per swept axis; None for "not_convex", "too_few_runs"
    log_draws: Array  # (R, k) replicate log optima; NaN where a replicate has no minimum


def bowl_runs_needed(n_axes: int) -> int:
    """Runs a sweep needs for its bowl over `n_axes` swept quantities (1: LR, B or N; 2: LR and B)."""
    return (BOWL_1D if n_axes == 1 else BOWL_2D).n_params + BOWL_EXTRA_RUNS


def bowl_optimum(
    log_axes: Array, log_loss: Array, window: float, bootstrap: int, delta: float, rng: np.random.Generator
) -> BowlOptimum:
    """The optimum of one sweep from a Huber quadratic of log loss in the standardised log axes (k, n),
    fitted to the runs within `window` of the best log loss; the bootstrap resamples those runs."""
    k = log_axes.shape[0]
    law = BOWL_1D if k == 1 else BOWL_2D
    empty = np.full((bootstrap, k), np.nan)
    kept = _window(log_axes, log_loss, window, bowl_runs_needed(k))
    if kept is None:
        return BowlOptimum("too_few_runs", None, empty)
    x, y = log_axes[:, kept], log_loss[kept]
    centre, spread = x.mean(axis=1, keepdims=True), x.std(axis=1, keepdims=True)
    z = (x - centre) / spread
    design = law.log_predict(np.zeros((1, law.n_params)), z)[1][0].T
    start = np.linalg.lstsq(design, y, rcond=None)[0]
    point = solve_batch(law, start[None, :], z, y, np.ones(y.size), delta).theta
    stationary, is_min = bowl_minimum(point)
    log_point = centre[:, 0] + spread[:, 0] * stationary[0]
    if not is_min[0]:
        return BowlOptimum("not_convex", None, empty)
    draws = empty
    if bootstrap:
        weights = resample_weights(y.size, bootstrap, rng)
        replicate = solve_batch(law, np.repeat(point, bootstrap, axis=0), z, y, weights, delta)
        stationary_r, ok = bowl_minimum(replicate.theta)
        draws = np.where(ok[:, None], centre[:, 0] + spread[:, 0] * stationary_r, np.nan)
    outside = (log_point < log_axes.min(axis=1)) | (log_point > log_axes.max(axis=1))
    if np.any(outside) or best_on_edge(log_axes, log_loss):
        return BowlOptimum("edge", log_point, draws)
    return BowlOptimum("found", log_point, draws)


def best_on_edge(log_axes: Array, log_loss: Array) -> bool:
    """The best run sits on the smallest or largest swept value of some axis."""
    best = int(np.argmin(log_loss))
    lows, highs = log_axes.min(axis=1), log_axes.max(axis=1)
    return bool(np.any(np.isclose(log_axes[:, best], lows) | np.isclose(log_axes[:, best], highs)))


def _window(log_axes: Array, log_loss: Array, window: float, needed: int) -> Array | None:
    """Runs within `window` of the best log loss, widened to the best `needed` runs if fewer;
    None when even all runs cannot determine the bowl."""
    order = np.argsort(log_loss, kind="stable")
    count = max(int(np.sum(log_loss <= log_loss.min() + window)), needed)
    while count <= log_loss.size:
        kept = np.sort(order[:count])
        if all(np.unique(axis[kept]).size >= BOWL_MIN_VALUES for axis in log_axes):
            return kept
        count += 1
    return None
