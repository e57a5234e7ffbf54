"""Huber loss on log-space residuals (Hoffmann et al. 2022, approach 3), batched over problems.

The objective of problem m is sum_i w_mi * huber_delta(r_mi) with r = log-prediction - log loss
and w the row weights (bootstrap counts, or 0/1 for held-out rows). A *sum*, not a mean: the
Epoch replication showed that a mean-reduced loss makes L-BFGS stop early near its start.
"""

from __future__ import annotations

import numpy as np

from fitting.laws.base import Array

DEFAULT_DELTA = 1e-3  # Hoffmann et al. 2022, appendix D.2


def huber(residual: Array, delta: float) -> Array:
    """Elementwise Huber loss: r^2/2 inside |r| <= delta, delta (|r| - delta/2) outside."""
    absolute = np.abs(residual)
    return np.where(absolute <= delta, 0.5 * residual**2, delta * (absolute - 0.5 * delta))


def huber_objective(residual: Array, weights: Array, delta: float) -> Array:
    """Weighted Huber sum per problem: (M, n) residuals and weights -> (M,)."""
    return np.sum(weights * huber(residual, delta), axis=-1)


def huber_psi(residual: Array, delta: float) -> Array:
    """Derivative of the Huber loss: the residual clipped to [-delta, delta]."""
    return np.clip(residual, -delta, delta)


def irls_weights(residual: Array, delta: float) -> Array:
    """psi(r)/r: the weight of each residual in the quadratic majoriser of the Huber loss.

    rho(r) <= rho(r0) + w(r0) (r^2 - r0^2)/2 with w = psi(r0)/r0, because rho(sqrt(s)) is concave
    in s; minimising the weighted least-squares surrogate never increases the Huber objective.
    """
    absolute = np.abs(residual)
    return np.where(absolute <= delta, 1.0, delta / np.maximum(absolute, delta))
