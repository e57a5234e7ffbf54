"""Vectorised robust least squares: many independent Huber problems solved at once.

Each problem (a multi-start initialisation, a bootstrap replicate, a held-out refit) has its
own parameters and row weights; all share the data. One Levenberg-Marquardt iteration on the
IRLS surrogate of the Huber loss advances every problem with a handful of array operations,
and a step is only kept where it lowers the true Huber objective. Problems stop one by one as
they converge, so the cost follows the hard problems, not the number of problems.
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
# Problems per chunk: bounds peak memory at about chunk * n_rows * P^2 doubles.
_CHUNK = 1024


@dataclass(frozen=True)
class BatchSolution:
    """Final state of every problem of a batch."""

    theta: Array  # (M, P) raw parameters
    objective: Array  # (M,) weighted Huber sum at theta
    converged: Array  # (M,) bool: stopped by the tolerance, not the iteration cap
    iterations: Array  # (M,) iterations used
    gradient_norm: Array  # (M,) infinity norm of the projected gradient at theta


def _evaluate(law: Law, theta: Array, logx: Array, target: Array, weights: Array, delta: float):
    prediction, jac = law.log_predict(theta, logx)
    residual = prediction - target[None, :]
    return huber_objective(residual, weights, delta), residual, jac


def _gradient(jac: Array, residual: Array, weights: Array, delta: float) -> Array:
    """d objective / d theta: (M, P, n) @ (M, n, 1)."""
    return np.matmul(jac, (weights * huber_psi(residual, delta))[..., None])[..., 0]


def _projected_gradient(gradient: Array, theta: Array, lower: Array, upper: Array) -> Array:
    """Zero the gradient components that push a parameter further past its bound."""
    at_lower = (theta <= lower + 1e-12) & (gradient > 0)
    at_upper = (theta >= upper - 1e-12) & (gradient < 0)
    return np.where(at_lower | at_upper, 0.0, gradient)


def solve_batch(
    law: Law,
    theta0: Array,
    logx: Array,
    target: Array,
    weights: Array,
    delta: float,
    max_iter: int = 400,
) -> BatchSolution:
    """Minimise each problem's weighted Huber objective from its start, within the law's bounds.

    theta0: (M, P) starts; logx: (k, n) log inputs; target: (n,) log losses; weights: (M, n) or (n,).
    """
    theta0 = np.atleast_2d(np.asarray(theta0, dtype=float))
    weights = np.broadcast_to(np.asarray(weights, dtype=float), (theta0.shape[0], target.shape[0]))
    parts = [
        _solve_chunk(law, theta0[i : i + _CHUNK], logx, target, weights[i : i + _CHUNK], delta, max_iter)
        for i in range(0, theta0.shape[0], _CHUNK)
    ]
    return BatchSolution(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in BatchSolution.__dataclass_fields__)
    )


def _solve_chunk(
    law: Law, theta0: Array, logx: Array, target: Array, weights: Array, delta: float, max_iter: int
) -> BatchSolution:
    lower, upper = np.asarray(law.lower), np.asarray(law.upper)
    n_problems, n_params = theta0.shape
    theta = np.clip(theta0, lower, upper)
    objective, residual, jac = _evaluate(law, theta, logx, target, weights, delta)
    damping = np.full(n_problems, _LAMBDA_START)
    converged = np.zeros(n_problems, dtype=bool)
    iterations = np.zeros(n_problems, dtype=int)
    active = np.arange(n_problems)
    eye = np.eye(n_params)

    for _ in range(max_iter):
        if active.size == 0:
            break
        th, obj, res, jc, wt, lam = (
            theta[active],
            objective[active],
            residual[active],
            jac[active],
            weights[active],
            damping[active],
        )
        gradient = _gradient(jc, res, wt, delta)
        free = ~(((th <= lower + 1e-12) & (gradient > 0)) | ((th >= upper - 1e-12) & (gradient < 0)))
        jac_t = jc.transpose(0, 2, 1)
        # Exact Gauss-Newton curvature of the Huber loss (1 on inliers, 0 on outliers) gives
        # Newton's fast finish once the inlier set settles; the IRLS majoriser's curvature
        # (psi(r)/r) is the damping term, so a large damping gives safe majorise-minimise steps.
        inlier = (np.abs(res) <= delta) * wt
        exact = np.matmul(jc * inlier[:, None, :], jac_t)
        majoriser = np.matmul(jc * (wt * irls_weights(res, delta))[:, None, :], jac_t)
        diag = np.diagonal(majoriser, axis1=1, axis2=2)
        scale = diag + 1e-9 * diag.max(axis=1, keepdims=True) + 1e-300
        system = exact + lam[:, None, None] * (majoriser + scale[..., None] * eye)
        # Parameters held on a bound are frozen: identity row and column, zero right-hand side.
        mask = free[:, :, None] & free[:, None, :]
        system = np.where(mask, system, eye)
        rhs = np.where(free, -gradient, 0.0)
        step = np.linalg.solve(system, rhs[..., None])[..., 0]
        candidate = np.clip(th + step, lower, upper)
        new_obj, new_res, new_jac = _evaluate(law, candidate, logx, target, wt, delta)
        better = new_obj < obj
        moved = np.max(np.abs(candidate - th), axis=1)

        idx_better = active[better]
        theta[idx_better] = candidate[better]
        objective[idx_better] = new_obj[better]
        residual[idx_better] = new_res[better]
        jac[idx_better] = new_jac[better]
        damping[active] = np.where(better, np.maximum(lam * 0.25, 1e-9), lam * 8.0)
        iterations[active] += 1

        small_gain = (
            better & ((obj - new_obj) <= _FTOL * obj) & (moved <= _XTOL * (1 + np.abs(th).max(axis=1)))
        )
        stuck = (~better) & (lam * 8.0 >= _LAMBDA_MAX)
        done = small_gain | stuck
        converged[active[done]] = True
        active = active[~done]

    projected = _projected_gradient(_gradient(jac, residual, weights, delta), theta, lower, upper)
    return BatchSolution(theta, objective, converged, iterations, np.max(np.abs(projected), axis=1))
