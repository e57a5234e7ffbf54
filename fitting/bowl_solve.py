"""Huber fits of many small linear problems at once, each with its own design and data: the bowls
of every sweep of a study and all their bootstrap replicates in one batched computation.

fitting.solve.solve_batch shares one data set across its problems (multi-starts, replicates of
one fit). Bowls differ per sweep, so here each problem m reads the design of its sweep source[m]
(zero-padded to the longest sweep, padded rows weighted 0), and the Levenberg-Marquardt iteration
of solve_batch is repeated step for step: the same damping, acceptance and stopping rules, hence
the same answers as solving each sweep on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fitting.laws.base import Array, Law
from fitting.objective import huber_objective, huber_psi, irls_weights

# The stopping rules of fitting.solve (kept equal so both solvers agree).
_FTOL = 1e-11
_XTOL = 1e-9
_LAMBDA_START = 1e-3
_LAMBDA_MAX = 1e12
# Doubles a chunk of problems may hold per array (problems x rows x parameters^2): about 32 MB.
_CHUNK_VALUES = 1 << 22


def solve_designs(
    law: Law,
    theta0: Array,
    designs: Sequence[Array],
    targets: Sequence[Array],
    source: Array,
    weights: Sequence[Array] | None,
    delta: float,
    max_iter: int = 400,
) -> Array:
    """Minimise every problem's weighted Huber objective of log-space residuals, within the law's bounds.

    theta0: (M, P) starts. designs[s]: (P, n_s) features of data set s (the model is theta @ design);
    targets[s]: (n_s,) its log losses. source: (M,) the data set of every problem. weights: per data
    set, (R_s, n_s) row weights of its problems in order (problems of one set are contiguous), or
    None for weight 1 on every row. Returns the (M, P) solutions.
    """
    n_sets, n_params = len(designs), theta0.shape[1]
    width = max(d.shape[1] for d in designs)
    features = np.zeros((n_sets, n_params, width))
    target = np.zeros((n_sets, width))
    present = np.zeros((n_sets, width))
    for s, (design, values) in enumerate(zip(designs, targets, strict=True)):
        features[s, :, : design.shape[1]] = design
        target[s, : values.size] = values
        present[s, : values.size] = 1.0
    if weights is None:
        row_weights = present[source]
    else:
        row_weights = np.zeros((source.size, width))
        start = 0
        for w in weights:
            row_weights[start : start + w.shape[0], : w.shape[1]] = w
            start += w.shape[0]
    chunk = max(1, _CHUNK_VALUES // (n_params * n_params * width))
    out = np.empty_like(theta0, dtype=float)
    for i in range(0, source.size, chunk):
        rows = slice(i, i + chunk)
        out[rows] = _solve_chunk(
            law, theta0[rows], features, target, source[rows], row_weights[rows], delta, max_iter
        )
    return out


def _evaluate(theta: Array, features: Array, target: Array, weights: Array, delta: float):
    """Objective (M,) and residuals (M, n) of linear models theta (M, P) on features (M, P, n)."""
    residual = np.matmul(theta[:, None, :], features)[:, 0, :] - target
    return huber_objective(residual, weights, delta), residual


def _gram(row_weights: Array, outer: Array, n_params: int) -> Array:
    """sum_n w_mn f_pn f_qn as (M, P, P), from the rows' outer products (M, n, P*P): one
    matrix-vector product per problem, cheaper than a (P, n) x (n, P) product."""
    return np.matmul(row_weights[:, None, :], outer)[:, 0, :].reshape(-1, n_params, n_params)


def _solve_chunk(
    law: Law,
    theta0: Array,
    features_by_set: Array,
    target_by_set: Array,
    source: Array,
    weights: Array,
    delta: float,
    max_iter: int,
) -> Array:
    """fitting.solve's Levenberg-Marquardt on the IRLS surrogate, per-problem designs."""
    lower, upper = np.asarray(law.lower), np.asarray(law.upper)
    n_problems, n_params = theta0.shape
    outer_by_set = np.einsum("spn,sqn->snpq", features_by_set, features_by_set).reshape(
        features_by_set.shape[0], features_by_set.shape[2], n_params * n_params
    )
    theta = np.clip(theta0, lower, upper)
    objective, residual = _evaluate(theta, features_by_set[source], target_by_set[source], weights, delta)
    damping = np.full(n_problems, _LAMBDA_START)
    active = np.arange(n_problems)
    eye = np.eye(n_params)
    for _ in range(max_iter):
        if active.size == 0:
            break
        sets = source[active]
        th, obj, res, jc, wt, lam = (
            theta[active],
            objective[active],
            residual[active],
            features_by_set[sets],
            weights[active],
            damping[active],
        )
        outer = outer_by_set[sets]
        gradient = np.matmul(jc, (wt * huber_psi(res, delta))[..., None])[..., 0]
        free = ~(((th <= lower + 1e-12) & (gradient > 0)) | ((th >= upper - 1e-12) & (gradient < 0)))
        # Exact Gauss-Newton curvature (1 on inliers, 0 on outliers) plus the damped IRLS majoriser.
        exact = _gram((np.abs(res) <= delta) * wt, outer, n_params)
        majoriser = _gram(wt * irls_weights(res, delta), outer, n_params)
        diag = np.diagonal(majoriser, axis1=1, axis2=2)
        scale = diag + 1e-9 * diag.max(axis=1, keepdims=True) + 1e-300
        system = exact + lam[:, None, None] * (majoriser + scale[..., None] * eye)
        rhs = -gradient
        if not free.all():  # parameters held on a bound: identity row and column, zero right-hand side
            mask = free[:, :, None] & free[:, None, :]
            system = np.where(mask, system, eye)
            rhs = np.where(free, rhs, 0.0)
        step = np.linalg.solve(system, rhs[..., None])[..., 0]
        candidate = np.clip(th + step, lower, upper)
        new_obj, new_res = _evaluate(candidate, jc, target_by_set[sets], wt, delta)
        better = new_obj < obj
        moved = np.max(np.abs(candidate - th), axis=1)
        idx_better = active[better]
        theta[idx_better] = candidate[better]
        objective[idx_better] = new_obj[better]
        residual[idx_better] = new_res[better]
        damping[active] = np.where(better, np.maximum(lam * 0.25, 1e-9), lam * 8.0)
        tiny = moved <= _XTOL * (1 + np.abs(th).max(axis=1))
        small_gain = better & ((obj - new_obj) <= _FTOL * obj) & tiny
        stuck = (~better) & (lam * 8.0 >= _LAMBDA_MAX)
        # A rejected step already within the step tolerance: a Huber fit of a linear model is
        # piecewise quadratic, so Newton lands on its minimum exactly and every later step is
        # rejected while the damping climbs to _LAMBDA_MAX. Those steps never move theta (only
        # accepted steps do, and a more damped step is shorter still), so stopping here returns
        # what solve_batch returns, up to steps under the tolerance.
        settled = (~better) & tiny
        active = active[~(small_gain | stuck | settled)]
    return theta
