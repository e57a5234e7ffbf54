"""Vectorised robust least squares: many independent Huber problems solved at once.

Each problem (a multi-start initialisation, a bootstrap replicate, a held-out refit) has its
own parameters and row weights; all share the data. One Levenberg-Marquardt iteration on the
IRLS surrogate of the Huber loss advances every problem with a handful of array operations,
and a step is only kept where it lowers the true Huber objective. Problems stop one by one as
they converge, so the cost follows the hard problems, not the number of problems.

The problems go through in chunks and the rows in blocks, sized so that the working arrays stay
small and within a memory budget: a fit over 240 runs takes a hundred problems at a time with all
their rows, a fit over 100,000 one problem at a time in blocks of rows, summing each step's
objective, gradient and curvature over the blocks. Peak memory then does not grow with the runs,
and the answers do not depend on the blocks beyond the rounding of those sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitting.laws.base import Array, Law
from fitting.objective import huber_objective, huber_psi, irls_weights

# Relative objective decrease below which an accepted step counts as "no progress", and the
# largest damping before a problem is declared stuck at a stationary point.
_FTOL = 1e-11
_XTOL = 1e-9
_LAMBDA_START = 1e-3
_LAMBDA_MAX = 1e12
_EPSILON = float(np.finfo(float).eps)

# Bytes the solver's working arrays may take at once, by default (the caller may pass its own).
DEFAULT_MEMORY_BUDGET = 512 * 2**20
# Arrays of (problems, rows) doubles alive at the peak of one step, an upper bound counted from
# _statistics: per law parameter (the Jacobian, the stack that builds it, its two weighted copies
# for the curvature matrices) and in all (residuals, weights, Huber weights, the temporaries of
# one prediction). tracemalloc measured 125-225 bytes per problem-row for five parameters against
# the 288 this allows (test_solver_memory checks the budget holds).
_ARRAYS_PER_PARAMETER = 4
_ARRAYS_FIXED = 16
# Problem-rows handled by one array operation: enough that numpy's per-call overhead is small
# against the arithmetic, few enough that one step's arrays (about 9 MB for five parameters) stay
# near the caches. Larger arrays made a step slower per row, not faster (about 2x at 10,000 rows
# and 100 problems at once, measured on a 2-core machine); answers do not depend on it.
_BLOCK_ELEMENTS = 32768
# Where fewer than _MIN_PROBLEMS problems would share a block, problems go one at a time through
# blocks of at most _ROW_BLOCK rows: a handful of problems of many rows each made the allocator
# map and zero fresh pages on every step (half the CPU time in the kernel at 5,000 and 10,000
# rows, none at one problem per chunk; measured with getrusage on a 2-core machine).
_MIN_PROBLEMS = 16
_ROW_BLOCK = 8192
_MAX_CHUNK = 1024

# A problem is stationary when its projected gradient is within this factor of the gradient scale
# of the data: one residual at the Huber threshold on every row, times the largest log input
# (the size of d objective / d exponent). Scaled by delta, so the same test holds at delta = 1e-4
# as at 1e-3, where an unscaled one would call a near-L1 minimum unconverged.
STATIONARY_TOLERANCE = 1e-6


@dataclass(frozen=True)
class BatchSolution:
    """Final state of every problem of a batch."""

    theta: Array  # (M, P) raw parameters
    objective: Array  # (M,) weighted Huber sum at theta
    converged: Array  # (M,) bool: met the step test, or is stationary (stationary()) at the iteration cap
    iterations: Array  # (M,) iterations used
    gradient_norm: Array  # (M,) infinity norm of the projected gradient at theta


@dataclass(frozen=True)
class _Statistics:
    """What one Levenberg-Marquardt step needs of each problem at its point, summed over the rows:
    the objective, its gradient and the two curvature matrices."""

    objective: Array  # (m,)
    gradient: Array  # (m, P)
    exact: Array  # (m, P, P) Gauss-Newton curvature of the Huber loss: inlier rows only
    majoriser: Array  # (m, P, P) curvature of the IRLS majoriser: psi(r)/r on every row


def _statistics(
    law: Law, theta: Array, logx: Array, target: Array, weights: _Weights, delta: float, block: int
) -> _Statistics:
    """Objective, gradient and curvatures at theta (m, P), accumulated over blocks of `block` rows,
    so that no array spans problems x all rows x parameters."""
    n_rows = target.shape[0]
    parts = []
    for start in range(0, n_rows, block):
        rows = slice(start, min(start + block, n_rows))
        prediction, jac = law.log_predict(theta, logx[:, rows])
        residual = prediction - target[None, rows]
        wt = weights.block(rows)
        jac_t = jac.transpose(0, 2, 1)
        # Exact Gauss-Newton curvature of the Huber loss (1 on inliers, 0 on outliers) gives
        # Newton's fast finish once the inlier set settles; the IRLS majoriser's curvature
        # (psi(r)/r) is the damping term, so a large damping gives safe majorise-minimise steps.
        inlier = (np.abs(residual) <= delta) * wt
        parts.append(
            _Statistics(
                huber_objective(residual, wt, delta),
                np.matmul(jac, (wt * huber_psi(residual, delta))[..., None])[..., 0],
                np.matmul(jac * inlier[:, None, :], jac_t),
                np.matmul(jac * (wt * irls_weights(residual, delta))[:, None, :], jac_t),
            )
        )
    if len(parts) == 1:
        return parts[0]
    return _Statistics(*(sum(getattr(p, f) for p in parts) for f in _Statistics.__dataclass_fields__))


def _projected_gradient(gradient: Array, theta: Array, lower: Array, upper: Array) -> Array:
    """Zero the gradient components that push a parameter further past its bound."""
    at_lower = (theta <= lower + 1e-12) & (gradient > 0)
    at_upper = (theta >= upper - 1e-12) & (gradient < 0)
    return np.where(at_lower | at_upper, 0.0, gradient)


@dataclass(frozen=True)
class _Weights:
    """The row weights of the problems of a chunk, read a block of rows at a time from the caller's
    array (its rows picked by `index`) and converted to float only there."""

    source: Array  # (R, n) any numeric dtype
    index: Array  # (m,) the row of source each problem uses

    def block(self, rows: slice) -> Array:
        return np.asarray(self.source[self.index, rows], dtype=float)

    def subset(self, keep: Array) -> _Weights:
        return _Weights(self.source, self.index[keep])

    def totals(self) -> Array:
        return np.asarray(self.source[self.index].sum(axis=1), dtype=float)


def gradient_scale(delta: float, total_weight: Array | float, logx: Array) -> Array | float:
    """The gradient one residual at the Huber threshold on every (weighted) row gives an exponent:
    delta x total weight x the largest |log input|, at least delta x total weight."""
    return delta * total_weight * max(1.0, float(np.max(np.abs(logx))))


def stationary(
    gradient_norm: Array | float, delta: float, total_weight: Array | float, logx: Array
) -> Array | bool:
    """Whether a projected gradient's infinity norm is zero to STATIONARY_TOLERANCE of the data's
    gradient scale: the convergence test for a point whatever optimiser reached it."""
    return gradient_norm <= STATIONARY_TOLERANCE * gradient_scale(delta, total_weight, logx)


def chunk_shape(n_rows: int, n_params: int, memory_budget: float = DEFAULT_MEMORY_BUDGET) -> tuple[int, int]:
    """Problems solved together and rows per block: all rows of about _BLOCK_ELEMENTS / n_rows
    problems when the data is small, blocks of _ROW_BLOCK rows of one problem when it is large;
    fewer where the working arrays would not fit in memory_budget bytes."""
    per_element = 8 * (_ARRAYS_PER_PARAMETER * n_params + _ARRAYS_FIXED)
    n_rows = max(1, n_rows)
    problems = min(_MAX_CHUNK, _BLOCK_ELEMENTS // n_rows)
    if problems < _MIN_PROBLEMS:
        problems, block = 1, min(n_rows, _ROW_BLOCK)
    else:
        block = n_rows
    block = min(block, max(1, int(memory_budget // per_element)))
    problems = min(problems, max(1, int(memory_budget // (per_element * block))))
    return problems, block


def solve_batch(
    law: Law,
    theta0: Array,
    logx: Array,
    target: Array,
    weights: Array,
    delta: float,
    max_iter: int = 400,
    *,
    weight_rows: Array | None = None,
    memory_budget: float = DEFAULT_MEMORY_BUDGET,
) -> BatchSolution:
    """Minimise each problem's weighted Huber objective from its start, within the law's bounds.

    theta0: (M, P) starts; logx: (k, n) log inputs; target: (n,) log losses; weights: (M, n) or
    (n,), of any numeric dtype (small integer counts keep a large bootstrap's weights small).
    weight_rows: (M,) the row of a (R, n) `weights` each problem uses, so that the starts of one
    resample share its row rather than each holding a copy. memory_budget: bytes the working arrays
    may take at once (the caller's inputs aside); it sets how many problems and rows go through
    together, not the answer (beyond the rounding of sums over blocks of rows).
    """
    theta0 = np.atleast_2d(np.asarray(theta0, dtype=float))
    n_problems, n_rows = theta0.shape[0], target.shape[0]
    weights = np.asarray(weights)
    if weights.ndim == 1:
        weights, weight_rows = weights[None, :], np.zeros(n_problems, dtype=int)
    elif weight_rows is None:
        if weights.shape[0] != n_problems:
            weights = np.broadcast_to(weights, (n_problems, n_rows))
        weight_rows = np.arange(n_problems)
    chunk, block = chunk_shape(n_rows, theta0.shape[1], memory_budget)
    parts = [
        _solve_chunk(
            law,
            theta0[i : i + chunk],
            logx,
            target,
            _Weights(weights, np.asarray(weight_rows[i : i + chunk])),
            delta,
            max_iter,
            block,
        )
        for i in range(0, n_problems, chunk)
    ]
    return BatchSolution(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in BatchSolution.__dataclass_fields__)
    )


def _solve_chunk(
    law: Law,
    theta0: Array,
    logx: Array,
    target: Array,
    weights: _Weights,
    delta: float,
    max_iter: int,
    block: int,
) -> BatchSolution:
    lower, upper = np.asarray(law.lower), np.asarray(law.upper)
    n_problems, n_params = theta0.shape
    n_rows = target.shape[0]
    totals = weights.totals()
    theta = np.clip(theta0, lower, upper)
    # Each problem's statistics at its current point; a step replaces them where it is kept.
    stats = _statistics(law, theta, logx, target, weights, delta, block)
    objective, gradient = stats.objective, stats.gradient
    exact, majoriser = stats.exact, stats.majoriser
    damping = np.full(n_problems, _LAMBDA_START)
    converged = np.zeros(n_problems, dtype=bool)
    iterations = np.zeros(n_problems, dtype=int)
    active = np.arange(n_problems)
    eye = np.eye(n_params)

    for _ in range(max_iter):
        if active.size == 0:
            break
        th, obj, grad, lam = theta[active], objective[active], gradient[active], damping[active]
        free = ~(((th <= lower + 1e-12) & (grad > 0)) | ((th >= upper - 1e-12) & (grad < 0)))
        curvature = majoriser[active]
        diag = np.diagonal(curvature, axis1=1, axis2=2)
        scale = diag + 1e-9 * diag.max(axis=1, keepdims=True) + 1e-300
        system = exact[active] + lam[:, None, None] * (curvature + scale[..., None] * eye)
        # Parameters held on a bound are frozen: identity row and column, zero right-hand side.
        mask = free[:, :, None] & free[:, None, :]
        system = np.where(mask, system, eye)
        rhs = np.where(free, -grad, 0.0)
        step = np.linalg.solve(system, rhs[..., None])[..., 0]
        candidate = np.clip(th + step, lower, upper)
        new = _statistics(law, candidate, logx, target, weights.subset(active), delta, block)
        better = new.objective < obj
        moved = np.max(np.abs(candidate - th), axis=1)

        idx_better = active[better]
        theta[idx_better] = candidate[better]
        objective[idx_better] = new.objective[better]
        gradient[idx_better] = new.gradient[better]
        exact[idx_better] = new.exact[better]
        majoriser[idx_better] = new.majoriser[better]
        damping[active] = np.where(better, np.maximum(lam * 0.25, 1e-9), lam * 8.0)
        iterations[active] += 1

        small_gain = (
            better & ((obj - new.objective) <= _FTOL * obj) & (moved <= _XTOL * (1 + np.abs(th).max(axis=1)))
        )
        stuck = (~better) & (lam * 8.0 >= _LAMBDA_MAX)
        # A gain within the rounding error of the objective (a sum of n_rows terms) at a stationary
        # point is no progress, however far the step moved: near-L1 losses (small delta) otherwise
        # trade such steps with rejected ones until the iteration cap.
        rounding = better & ((obj - new.objective) <= n_rows * _EPSILON * obj)
        settled = rounding & stationary(
            np.max(np.abs(_projected_gradient(new.gradient, candidate, lower, upper)), axis=1),
            delta,
            totals[active],
            logx,
        )
        done = small_gain | stuck | settled
        converged[active[done]] = True
        active = active[~done]

    gradient_norm = np.max(np.abs(_projected_gradient(gradient, theta, lower, upper)), axis=1)
    # At the iteration cap the step test has not fired, but a point whose gradient is zero to the
    # data's scale is a minimum all the same (near-L1 losses at a small delta end there slowly).
    converged |= stationary(gradient_norm, delta, totals, logx)
    return BatchSolution(theta, objective, converged, iterations, gradient_norm)
