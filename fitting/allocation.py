"""Compute-optimal allocation: for a training budget C, the model size N and tokens D that
minimise a fitted L(N, D) subject to C = flops_per_token(N) * D, each with a bootstrap interval.

A law with a closed form for C = k N D (the Chinchilla forms: Law.optimal_split, Hoffmann et al.
2022, eq. 4) gives N_opt per draw directly; other laws or FLOP counts are minimised on a fine log-N
grid with parabolic refinement. Either way every draw is taken at its own optimum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fitting._validate import as_positive_array, level_in_unit_interval, positive_float
from fitting.flops import FLOPS_PER_PARAM_TOKEN
from fitting.laws.base import Array, Law
from fitting.result import Estimate, Fit, percentile_interval

FlopsPerToken = float | Callable[[Array], Array] | None
_GRID_POINTS = 4096
_MIN_PARAMS = 1e2  # search N in [1e2, C / (k * 1e2)]: at least 100 parameters and 100 tokens
_SLOPE_STEP = 0.01  # relative compute step for the local exponent d log N_opt / d log C


@dataclass(frozen=True)
class Allocation:
    """Compute-optimal N and D for `compute`, with intervals at `level`."""

    compute: Any
    n_params: Estimate
    tokens: Estimate
    tokens_per_param: Estimate
    loss: Estimate
    exponent_n: Estimate  # a in N_opt ∝ C^a
    exponent_d: Estimate  # b in D_opt ∝ C^b
    flops_convention: str
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "compute": np.asarray(self.compute).tolist(),
            "n_params": self.n_params.to_dict(),
            "tokens": self.tokens.to_dict(),
            "tokens_per_param": self.tokens_per_param.to_dict(),
            "loss": self.loss.to_dict(),
            "exponent_n": self.exponent_n.to_dict(),
            "exponent_d": self.exponent_d.to_dict(),
            "flops_convention": self.flops_convention,
            "warnings": list(self.warnings),
        }


def optimal_allocation(
    fit: Fit, compute: Any, flops_per_token: FlopsPerToken = None, level: float = 0.95
) -> Allocation:
    """N_opt, D_opt, D/N, loss and the allocation exponents at `compute` FLOPs.

    flops_per_token: None for C = 6ND; a number k for C = k N D; or a function of N giving the
    training FLOPs per token (e.g. an exact count with attention), then C = f(N) D.
    """
    level = level_in_unit_interval(level)
    if tuple(fit.inputs) != ("N", "D"):
        raise ValueError(
            f"optimal_allocation needs a law of N and D; this fit is {fit.law!r} of {fit.inputs[0]}"
        )
    scalar = np.ndim(compute) == 0
    budgets = as_positive_array("compute", compute)
    convention, per_token = _flops_convention(flops_per_token)
    per_parameter = budgets / per_token(1.0)  # N·D at each budget, before the split
    if not np.all((per_parameter > 0) & np.isfinite(per_parameter)):
        raise ValueError(
            f"compute {float(np.min(budgets)):.3g} FLOPs is too small (or too large) to split into N and D "
            "in double precision: give a compute between about 1e-290 and 1e300 FLOPs"
        )
    rows = fit.evaluator  # point estimate, then draws
    split = None if callable(flops_per_token) else rows.optimal_split
    if split is not None:  # closed form for C = k N D (Hoffmann et al. 2022, eq. 4)
        log_g, exponent_n = split
        log_n = log_g[:, None] + exponent_n[:, None] * np.log(per_parameter)[None, :]
        n_opt = np.exp(log_n)  # (draws + 1, q)
        tokens = budgets[None, :] / per_token(n_opt)
        exponent_d = 1.0 - exponent_n
        # Each draw at its own optimum: O(draws), not every draw at every optimum.
        loss = rows.law.natural_value(rows.natural, n_opt, tokens)
    else:
        log_n = _numeric_log_n(rows.law, rows.theta, budgets, per_token)
        up = _numeric_log_n(rows.law, rows.theta, budgets * (1 + _SLOPE_STEP), per_token)
        exponent_n = (up - log_n) / np.log1p(_SLOPE_STEP)
        n_opt = np.exp(log_n)
        tokens = budgets[None, :] / per_token(n_opt)
        d_up = budgets[None, :] * (1 + _SLOPE_STEP) / per_token(np.exp(up))
        exponent_d = (np.log(d_up) - np.log(tokens)) / np.log1p(_SLOPE_STEP)
        loss = np.exp(_log_loss(rows.law, rows.theta, log_n, np.log(tokens)))

    warnings = []
    if not np.isfinite(log_n[0]).all():
        warnings.append(
            "no interior optimum for the point estimate within N in [1e2, C/1e2]: the law has no optimum here"
        )
    quantities = [n_opt, tokens, tokens / n_opt, loss, exponent_n, exponent_d]
    # (quantity, row, budget); quantities that do not depend on the budget broadcast over budgets.
    stacked = np.empty((len(quantities), rows.theta.shape[0], budgets.size))
    for i, quantity in enumerate(quantities):
        stacked[i] = quantity.reshape(quantity.shape[0], -1)
    estimates = _estimates(stacked, level, () if scalar else budgets.shape)
    return Allocation(
        compute=float(budgets[0]) if scalar else budgets,
        n_params=estimates[0],
        tokens=estimates[1],
        tokens_per_param=estimates[2],
        loss=estimates[3],
        exponent_n=estimates[4],
        exponent_d=estimates[5],
        flops_convention=convention,
        warnings=warnings,
    )


def _flops_convention(flops_per_token: FlopsPerToken) -> tuple[str, Callable[[Array], Array]]:
    """The FLOP convention's label and the training FLOPs per token as a function of N."""
    if callable(flops_per_token):
        return "C = flops_per_token(N) * D", flops_per_token
    k = (
        FLOPS_PER_PARAM_TOKEN
        if flops_per_token is None
        else positive_float("flops_per_token", flops_per_token)
    )

    def per_token(n: Array, k: float = k) -> Array:
        return k * n

    return f"C = {k:g} N D", per_token


def _estimates(stacked: Array, level: float, shape: tuple[int, ...]) -> list[Estimate]:
    """One Estimate per quantity of stacked (Q, 1 + draws, q): row 0 the point estimate, the rest
    the draws, those without an optimum at some budget left out of that quantity's interval."""
    draws = stacked[:, 1:]
    if draws.shape[1] and np.isfinite(draws).all():
        # Every draw has an optimum (the usual case): all intervals from one sort.
        if not shape:  # one budget: rows of draws, the service's query
            lo, hi = percentile_interval(draws[:, :, 0], level, axis=1)
            rows = zip(stacked[:, 0, 0].tolist(), lo.tolist(), hi.tolist(), strict=True)
            return [Estimate(value, low, high, level) for value, low, high in rows]
        lo, hi = percentile_interval(draws, level, axis=1)
        return [
            Estimate(stacked[i, 0].reshape(shape), lo[i].reshape(shape), hi[i].reshape(shape), level)
            for i in range(stacked.shape[0])
        ]
    finite = np.all(np.isfinite(draws), axis=-1)  # (Q, draws): a value at every budget
    return [
        Estimate.from_samples(stacked[i, 0], draws[i][finite[i]], level, shape)
        for i in range(stacked.shape[0])
    ]


def _log_loss(law: Law, thetas: Array, log_n: Array, log_d: Array) -> Array:
    """log L for each draw at its own (N, D): thetas (M, P), log_n and log_d (M, q)."""
    out = np.empty_like(log_n)
    for j in range(log_n.shape[1]):
        values, _ = law.log_predict(thetas, np.stack([log_n[:, j], log_d[:, j]]))
        out[:, j] = np.diagonal(values)
    return out


def _numeric_log_n(law: Law, thetas: Array, budgets: Array, per_token: Callable[[Array], Array]) -> Array:
    """log N_opt per draw and budget by a fine log-N grid and a parabola through the best three."""
    out = np.full((thetas.shape[0], budgets.size), np.nan)
    for j, budget in enumerate(budgets):
        grid_n = np.linspace(np.log(_MIN_PARAMS), np.log(budget), _GRID_POINTS)
        tokens = budget / per_token(np.exp(grid_n))
        usable = tokens >= _MIN_PARAMS
        if usable.sum() < 3:
            raise ValueError(
                f"compute {budget:.3g} is too small to train any model of >= 100 parameters on >= 100 tokens"
            )
        grid_n, tokens = grid_n[usable], tokens[usable]
        values, _ = law.log_predict(thetas, np.stack([grid_n, np.log(tokens)]))
        best = np.argmin(values, axis=1)
        interior = (best > 0) & (best < grid_n.size - 1)
        i = np.clip(best, 1, grid_n.size - 2)
        rows = np.arange(thetas.shape[0])
        y0, y1, y2 = values[rows, i - 1], values[rows, i], values[rows, i + 1]
        step = grid_n[1] - grid_n[0]
        curvature = y0 - 2 * y1 + y2
        offset = np.where(curvature > 0, 0.5 * (y0 - y2) / np.where(curvature > 0, curvature, 1.0), 0.0)
        out[:, j] = np.where(interior, grid_n[i] + np.clip(offset, -1, 1) * step, np.nan)
    return out
