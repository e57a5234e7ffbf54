"""The optimum of a sweep: a robust quadratic of log loss in the log of the swept quantity (LR,
batch size, or model size on an IsoFLOP profile) fitted to the runs near the best one, its
stationary point the optimum, and a bootstrap over those runs for its interval.

Near its minimum any smooth loss landscape is a quadratic (its second-order model); the Step Law
paper reports the (log LR, log B) landscape convex with a broad basin (Li et al. 2025, sec. 3), and
Hoffmann et al. 2022 (approach 2) fit a parabola to each IsoFLOP profile in log N.

Sweeps too small for a bowl with room for its bootstrap (3 to 5 runs on one axis) are located by
a small-sweep rule instead (`small_sweep_optimum`): the vertex of the parabola through the best
run and its two neighbours, or (two swept axes) the centre of the runs near the best.

All sweeps of a fit are solved together (`bowl_optima`): every sweep's point fit, then every
sweep's bootstrap replicates, each in one batched solve (fitting.bowl_solve), so a study of a
thousand sweeps costs a few array passes rather than a thousand solver calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fitting.bootstrap import resample_weights
from fitting.bowl_solve import solve_designs
from fitting.laws.base import Array
from fitting.laws.hparams import (
    BOWL_1D,
    BOWL_1D_CUBIC,
    BOWL_2D,
    BOWL_2D_CUBIC,
    Bowl,
    bowl_features,
    bowl_minimum,
)

# A bowl is fitted to at least its parameters + BOWL_EXTRA_RUNS runs (room for the bootstrap)
# spanning at least BOWL_MIN_VALUES distinct values of every swept axis (a parabola through fewer
# is determined exactly, with no residual to judge it by).
BOWL_EXTRA_RUNS = 3
BOWL_MIN_VALUES = 3
# A sweep of fewer runs than its bowl needs, but of BOWL_MIN_VALUES distinct values or more, is
# located by the small-sweep rule; runs within this fraction of the best loss count as "near the
# best" for its centre (the Step Law authors' band, Li et al. 2025, code/fit_tool.py).
SMALL_SWEEP_BAND = 0.0025
# An asymmetric (cubic) bowl is fitted where the window holds at least this many runs per
# parameter of the cubic and ASYMMETRIC_MIN_VALUES distinct values of every axis (a cubic through
# three values is determined exactly); otherwise the quadratic.
ASYMMETRIC_RUNS_PER_PARAM = 2
ASYMMETRIC_MIN_VALUES = 4


@dataclass(frozen=True)
class BowlOptimum:
    """One sweep's optimum on the log scale, or why there is none.

    status: "found" (interior), "edge" (beyond the swept range, or the best run on its edge),
    "not_convex" (the quadratic has no minimum) or "too_few_runs". located_by: a key of
    fitting.located.LOCATED_BY ("quadratic", "cubic", "vertex", "centre"), "" when not located.
    """

    status: str
    log_point: Array | None  # (k,) log optimum per swept axis; None for "not_convex", "too_few_runs"
    log_draws: Array  # (R, k) replicate log optima; NaN where a replicate has no minimum
    located_by: str = ""
    log_bounds: Array | None = None  # (2, k) small sweeps: the bracket the optimum lies in
    log_loss: float | None = None  # the log loss at the optimum (the bowl's minimum)
    log_loss_draws: Array | None = None  # (R,) its replicates; NaN where a replicate has no minimum


def bowl_fit_runs(n_axes: int) -> int:
    """Runs a sweep needs for a bowl with a bootstrap over `n_axes` swept quantities (1: LR, B or N;
    2: LR and B); a smaller sweep takes the small-sweep rule."""
    return _law(n_axes).n_params + BOWL_EXTRA_RUNS


def bowl_runs_needed(n_axes: int) -> int:
    """Runs a sweep needs to be located at all (by its bowl, or by the small-sweep rule where it
    has fewer than bowl_fit_runs): BOWL_MIN_VALUES distinct values of every swept axis, which
    `n_axes` axes can share."""
    del n_axes  # one run carries a value of every axis
    return BOWL_MIN_VALUES


def _law(n_axes: int) -> Bowl:
    return BOWL_1D if n_axes == 1 else BOWL_2D


@dataclass(frozen=True)
class _Problem:
    """One sweep's bowl problem: the windowed runs on standardised axes and the start of the solve."""

    law: Bowl
    centre: Array  # (k,)
    spread: Array  # (k,)
    design: Array  # (P, m) quadratic features of the kept runs
    target: Array  # (m,) their log losses
    start: Array  # (P,) ordinary least squares, the solver's start


def bowl_optimum(
    log_axes: Array, log_loss: Array, window: float, bootstrap: int, delta: float, rng: np.random.Generator
) -> BowlOptimum:
    """The optimum of one sweep (see bowl_optima)."""
    return bowl_optima([(log_axes, log_loss)], window, bootstrap, delta, rng)[0]


_LAWS = (BOWL_1D, BOWL_2D, BOWL_1D_CUBIC, BOWL_2D_CUBIC)


def bowl_optima(
    sweeps: Sequence[tuple[Array, Array]],
    window: float,
    bootstrap: int,
    delta: float,
    rng: np.random.Generator,
    small: bool = False,
    asymmetric: bool = False,
) -> list[BowlOptimum]:
    """The optimum of every sweep (log axes (k, n), log losses (n,)) from a Huber quadratic of log
    loss in the standardised log axes, fitted to the runs within `window` of the best log loss; the
    bootstrap resamples those runs. small: sweeps too small for a bowl take the small-sweep rule
    instead of "too_few_runs". asymmetric: a cubic bowl where the window holds enough runs for it.

    The random stream is drawn sweep by sweep in order, as one sweep at a time would draw it."""
    problems = [_prepare(axes, loss, window, asymmetric) for axes, loss in sweeps]
    thetas: list[Array | None] = [None] * len(sweeps)
    for law in _LAWS:
        chosen = [i for i, p in enumerate(problems) if p is not None and p.law is law]
        if not chosen:
            continue
        solved = solve_designs(
            law,
            np.stack([problems[i].start for i in chosen]),
            [problems[i].design for i in chosen],
            [problems[i].target for i in chosen],
            np.arange(len(chosen)),
            None,
            delta,
        )
        for j, i in enumerate(chosen):
            thetas[i] = solved[j]
    convex = [t is not None and bool(bowl_minimum(t)[1][0]) for t in thetas]
    # Resample counts in sweep order: the stream a sweep-by-sweep loop would draw.
    counts: list[Array | None] = [
        resample_weights(problems[i].target.size, bootstrap, rng) if convex[i] and bootstrap else None
        for i in range(len(sweeps))
    ]
    draws = _replicate_optima(problems, thetas, counts, bootstrap, delta)
    out = []
    for i, (axes, loss) in enumerate(sweeps):
        k = axes.shape[0]
        empty = np.full((bootstrap, k), np.nan)
        problem = problems[i]
        if problem is None:
            if small and _small_enough(axes):
                out.append(small_sweep_optimum(axes, loss, bootstrap))
            else:
                out.append(BowlOptimum("too_few_runs", None, empty))
            continue
        if not convex[i]:
            out.append(BowlOptimum("not_convex", None, empty))
            continue
        stationary = bowl_minimum(thetas[i])[0]
        log_point = problem.centre + problem.spread * stationary[0]
        sweep_draws, loss_draws = draws[i] if draws[i] is not None else (empty, np.full(bootstrap, np.nan))
        outside = (log_point < axes.min(axis=1)) | (log_point > axes.max(axis=1))
        status = "edge" if np.any(outside) or best_on_edge(axes, loss) else "found"
        minimum = float(_bowl_value(thetas[i][None, :], stationary, problem.law.cubic)[0])
        located_by = "cubic" if problem.law.cubic else "quadratic"
        out.append(BowlOptimum(status, log_point, sweep_draws, located_by, None, minimum, loss_draws))
    return out


def _prepare(log_axes: Array, log_loss: Array, window: float, asymmetric: bool) -> _Problem | None:
    """The windowed, standardised bowl problem of one sweep; None when its runs cannot determine one."""
    k = log_axes.shape[0]
    kept = _window(log_axes, log_loss, window, bowl_fit_runs(k))
    if kept is None:
        return None
    x, y = log_axes[:, kept], log_loss[kept]
    centre, spread = x.mean(axis=1, keepdims=True), x.std(axis=1, keepdims=True)
    z = (x - centre) / spread
    law = _law(k)
    cubic = BOWL_1D_CUBIC if k == 1 else BOWL_2D_CUBIC
    if (
        asymmetric
        and y.size >= ASYMMETRIC_RUNS_PER_PARAM * cubic.n_params
        and all(np.unique(axis).size >= ASYMMETRIC_MIN_VALUES for axis in x)
    ):
        law = cubic
    design = law.log_predict(np.zeros((1, law.n_params)), z)[1][0]
    start = np.linalg.lstsq(design.T, y, rcond=None)[0]
    return _Problem(law, centre[:, 0], spread[:, 0], design, y, start)


def _bowl_value(theta: Array, stationary: Array, cubic: bool) -> Array:
    """Log loss of bowls theta (M, P) at standardised points (M, k)."""
    return np.sum(theta * bowl_features(stationary.T, cubic).T, axis=1)


def _replicate_optima(
    problems: list[_Problem | None],
    thetas: list[Array | None],
    counts: list[Array | None],
    bootstrap: int,
    delta: float,
) -> list[tuple[Array, Array] | None]:
    """Every sweep's replicate log optima (R, k) and log losses there (R,), all replicates of all
    sweeps of one bowl law in one batched solve, each replicate starting from its sweep's point fit."""
    out: list[tuple[Array, Array] | None] = [None] * len(problems)
    for law in _LAWS:
        chosen = [i for i, c in enumerate(counts) if c is not None and problems[i].law is law]
        if not chosen:
            continue
        source = np.repeat(np.arange(len(chosen)), bootstrap)
        solved = solve_designs(
            law,
            np.concatenate([np.repeat(thetas[i][None, :], bootstrap, axis=0) for i in chosen]),
            [problems[i].design for i in chosen],
            [problems[i].target for i in chosen],
            source,
            [counts[i] for i in chosen],
            delta,
        )
        stationary, ok = bowl_minimum(solved)
        value = np.where(ok, _bowl_value(solved, stationary, law.cubic), np.nan)
        for j, i in enumerate(chosen):
            rows = slice(j * bootstrap, (j + 1) * bootstrap)
            p = problems[i]
            out[i] = (np.where(ok[rows, None], p.centre + p.spread * stationary[rows], np.nan), value[rows])
    return out


def _small_enough(log_axes: Array) -> bool:
    """A sweep the small-sweep rule can locate: BOWL_MIN_VALUES distinct values on every axis."""
    return all(np.unique(axis).size >= BOWL_MIN_VALUES for axis in log_axes)


def small_sweep_optimum(log_axes: Array, log_loss: Array, bootstrap: int) -> BowlOptimum:
    """The optimum of a sweep too small for a bowl with a bootstrap (3 to 5 runs on one axis).

    A unimodal loss has its minimum between the best run's two neighbours on each axis: that bracket
    is the interval. One axis: the vertex of the parabola through the best run and its two
    neighbours ("vertex"; the parabolic step of Brent's minimiser), local to the optimum as a
    parabola through every run of the sweep is not (far from the optimum the landscape is
    asymmetric, steeper towards divergence). Two axes, or a best run on the edge: the geometric
    centre of the runs within SMALL_SWEEP_BAND of the best loss ("centre", Li et al. 2025's band).
    The replicates repeat the point: such a sweep's own noise reaches the power law's interval
    only through the resampling of sweeps.
    """
    k = log_axes.shape[0]
    best = int(np.argmin(log_loss))
    bounds = np.empty((2, k))
    for a, axis in enumerate(log_axes):
        values = np.unique(axis)
        at = int(np.searchsorted(values, axis[best]))
        bounds[0, a] = values[max(at - 1, 0)]
        bounds[1, a] = values[min(at + 1, values.size - 1)]
    located_by, point, minimum = "centre", _band_centre(log_axes, log_loss), float(log_loss.min())
    vertex = _bracket_vertex(log_axes[0], log_loss) if k == 1 else None
    if vertex is not None:
        located_by, point, minimum = "vertex", np.array([vertex[0]]), vertex[1]
    point = np.clip(point, bounds[0], bounds[1])
    status = "edge" if best_on_edge(log_axes, log_loss) else "found"
    return BowlOptimum(
        status,
        point,
        np.repeat(point[None, :], bootstrap, axis=0),
        located_by,
        bounds,
        minimum,
        np.full(bootstrap, minimum),
    )


def _bracket_vertex(log_value: Array, log_loss: Array) -> tuple[float, float] | None:
    """The minimum (log value, log loss) of the parabola through the best value and its two
    neighbours (runs at one value averaged); None when the best value is the smallest or largest."""
    values, index = np.unique(log_value, return_inverse=True)
    mean = np.bincount(index, weights=log_loss) / np.bincount(index)
    at = int(np.argmin(mean))
    if at == 0 or at == values.size - 1:
        return None
    x, y = values[at - 1 : at + 2], mean[at - 1 : at + 2]
    c2, c1, c0 = np.polyfit(x - x[1], y, 2)  # convex: the middle value is the lowest
    u = -c1 / (2.0 * c2)
    return float(x[1] + u), float(c0 + c1 * u + c2 * u * u)


def _band_centre(log_axes: Array, log_loss: Array) -> Array:
    """Mean log value per axis of the runs within SMALL_SWEEP_BAND of the best loss."""
    near = np.exp(log_loss - log_loss.min()) - 1.0 < SMALL_SWEEP_BAND
    return log_axes[:, near].mean(axis=1)


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
