"""Compute-optimal allocation: for a training budget C, the model size N and tokens D that
minimise a fitted L(N, D) subject to C = flops_per_token(N) * D, each with a bootstrap interval.

For the Chinchilla forms with C = k N D the optimum is closed-form (Hoffmann et al. 2022, eq. 4):
N_opt = G (C/k)^a, D_opt = G^-1 (C/k)^b, G = (alpha A / (beta B))^(1/(alpha+beta)),
a = beta/(alpha+beta), b = alpha/(alpha+beta). Other laws or FLOP counts are minimised on a fine
log-N grid with parabolic refinement.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fitting._validate import as_positive_array, level_in_unit_interval, positive_float
from fitting.flops import FLOPS_PER_PARAM_TOKEN
from fitting.laws.base import Array
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
    law = fit.law_spec
    thetas = fit._thetas  # point estimate, then draws: raw parameters, converted once per fit
    if (
        type(compute) is float
        and math.isfinite(compute)
        and compute > 0
        and flops_per_token is None
        and fit.law in ("chinchilla", "chinchilla_equal")
        and thetas.shape[0] > 1
    ):  # one valid budget, C = 6ND, closed form: the service's query
        fast = _closed_form_at_one_budget(fit, compute, FLOPS_PER_PARAM_TOKEN, level, "C = 6 N D")
        if fast is not None:
            return fast
    budgets = as_positive_array("compute", compute)

    closed_form = fit.law in ("chinchilla", "chinchilla_equal") and not callable(flops_per_token)
    if callable(flops_per_token):
        convention = "C = flops_per_token(N) * D"
        per_token = flops_per_token
    else:
        k = (
            FLOPS_PER_PARAM_TOKEN
            if flops_per_token is None
            else positive_float("flops_per_token", flops_per_token)
        )
        convention = f"C = {k:g} N D"

        def per_token(n: Array, k: float = k) -> Array:
            return k * n

    if closed_form and scalar and not callable(flops_per_token) and thetas.shape[0] > 1:
        fast = _closed_form_at_one_budget(fit, float(budgets[0]), per_token(1.0), level, convention)
        if fast is not None:
            return fast
    natural = fit._naturals if closed_form else None
    if closed_form:
        log_n = _closed_form_log_n(natural, fit.law, np.log(budgets / per_token(1.0)))
        exponent_n = _closed_form_exponent(natural, fit.law)
    else:
        log_n = _numeric_log_n(fit, thetas, budgets, per_token)
        up = _numeric_log_n(fit, thetas, budgets * (1 + _SLOPE_STEP), per_token)
        exponent_n = (up - log_n) / np.log1p(_SLOPE_STEP)
    n_opt = np.exp(log_n)  # (draws + 1, q)
    tokens = budgets[None, :] / per_token(n_opt)
    if closed_form:
        exponent_d = 1.0 - exponent_n
    else:
        d_up = budgets[None, :] * (1 + _SLOPE_STEP) / per_token(np.exp(up))
        exponent_d = (np.log(d_up) - np.log(tokens)) / np.log1p(_SLOPE_STEP)
    if closed_form:  # each draw at its own optimum, O(draws) rather than every draw at every optimum
        loss = _closed_form_loss(natural, fit.law, n_opt, tokens)
    else:
        loss = np.exp(_log_loss(law, thetas, log_n, np.log(tokens)))

    warnings = []
    if np.any(~np.isfinite(log_n[0])):
        warnings.append(
            "no interior optimum for the point estimate within N in [1e2, C/1e2]: the law has no optimum here"
        )

    def estimate(samples: Array) -> Estimate:
        """Row 0 the point estimate, the rest the draws (those without an optimum left out)."""
        samples = np.broadcast_to(samples.reshape(samples.shape[0], -1), (thetas.shape[0], budgets.size))
        draws = samples[1:][np.all(np.isfinite(samples[1:]), axis=-1)]
        return Estimate.from_samples(samples[0], draws, level, () if scalar else budgets.shape)

    quantities = [n_opt, tokens, tokens / n_opt, loss, exponent_n, exponent_d]
    shape = () if scalar else budgets.shape
    stacked = np.empty((len(quantities), thetas.shape[0], budgets.size))
    for i, q in enumerate(quantities):
        stacked[i] = q.reshape(q.shape[0], -1)  # broadcasts budget-free quantities over the budgets
    if stacked.shape[1] > 1 and np.all(np.isfinite(stacked[:, 1:])):
        # Every draw has an optimum (the usual case): the same intervals from one sort, not six.
        if scalar:
            results = _row_estimates(stacked[:, :, 0], level)
        else:
            lo, hi = percentile_interval(stacked[:, 1:], level, axis=1)
            results = [
                Estimate(stacked[i, 0].reshape(shape), lo[i].reshape(shape), hi[i].reshape(shape), level)
                for i in range(len(quantities))
            ]
    else:
        results = [estimate(q) for q in quantities]
    return Allocation(
        compute=float(budgets[0]) if scalar else budgets,
        n_params=results[0],
        tokens=results[1],
        tokens_per_param=results[2],
        loss=results[3],
        exponent_n=results[4],
        exponent_d=results[5],
        flops_convention=convention,
        warnings=warnings,
    )


def _closed_form_at_one_budget(
    fit: Fit, budget: float, k: float, level: float, convention: str
) -> Allocation | None:
    """The closed-form allocation at one budget (the service's query): what does not depend on the
    budget (log G, the exponents and their intervals) is computed once per fit; the same numbers as
    the general path, which handles the rare case this returns None for (a draw without an optimum)."""
    memo = fit._memo.get(("allocation", level))
    if memo is None:
        natural = fit._naturals
        log_g = _closed_form_log_n(natural, fit.law, np.zeros(1))[:, 0]
        exponent_n = _closed_form_exponent(natural, fit.law)
        exponents = np.stack([exponent_n, 1.0 - exponent_n])[:, :, None]
        if np.all(np.isfinite(exponents[:, 1:])):
            fixed = _row_estimates(exponents[:, :, 0], level)
        else:
            fixed = None  # some draw has no optimum: the general path filters draws per quantity
        memo = fit._memo[("allocation", level)] = (log_g, exponent_n, fixed)
    log_g, exponent_n, fixed = memo
    if fixed is None:
        return None
    n_opt = np.exp(log_g + exponent_n * math.log(budget / k))
    tokens = budget / (k * n_opt)
    loss = _closed_form_loss(fit._naturals, fit.law, n_opt[:, None], tokens[:, None])[:, 0]
    stacked = np.stack([n_opt, tokens, tokens / n_opt, loss])
    if not np.all(np.isfinite(stacked)):
        return None
    results = _row_estimates(stacked, level)
    return Allocation(
        compute=budget,
        n_params=results[0],
        tokens=results[1],
        tokens_per_param=results[2],
        loss=results[3],
        exponent_n=fixed[0],
        exponent_d=fixed[1],
        flops_convention=convention,
    )


def _row_estimates(samples: Array, level: float) -> list[Estimate]:
    """One scalar Estimate per row of samples (Q, 1 + draws): column 0 the point estimate, the rest
    finite draws, all rows' percentiles from one sort."""
    lo, hi = percentile_interval(samples[:, 1:], level, axis=1)
    rows = zip(samples[:, 0].tolist(), lo.tolist(), hi.tolist(), strict=True)
    return [Estimate(value, low, high, level) for value, low, high in rows]


def _closed_form_log_n(natural: Array, law: str, log_budget: Array) -> Array:
    """log N_opt for C = k N D: (draws, q) from natural (draws, P) and log(C/k) (q,)."""
    big_a, big_b = natural[:, 1], natural[:, 2]
    alpha = natural[:, 3]
    beta = natural[:, 4] if law == "chinchilla" else alpha
    log_g = (np.log(alpha * big_a) - np.log(beta * big_b)) / (alpha + beta)
    return log_g[:, None] + (beta / (alpha + beta))[:, None] * log_budget[None, :]


def _closed_form_exponent(natural: Array, law: str) -> Array:
    alpha = natural[:, 3]
    beta = natural[:, 4] if law == "chinchilla" else alpha
    return beta / (alpha + beta)


def _closed_form_loss(natural: Array, law: str, n_opt: Array, tokens: Array) -> Array:
    """L = E + A/N^alpha + B/D^beta for each draw at its own (N, D): natural (M, P), n_opt, tokens (M, q)."""
    big_e, big_a, big_b, alpha = (natural[:, i : i + 1] for i in range(4))
    beta = natural[:, 4:5] if law == "chinchilla" else alpha
    return big_e + big_a / n_opt**alpha + big_b / tokens**beta


def _log_loss(law: Any, thetas: Array, log_n: Array, log_d: Array) -> Array:
    """log L for each draw at its own (N, D): thetas (M, P), log_n and log_d (M, q)."""
    out = np.empty_like(log_n)
    for j in range(log_n.shape[1]):
        values, _ = law.log_predict(thetas, np.stack([log_n[:, j], log_d[:, j]]))
        out[:, j] = np.diagonal(values)
    return out


def _numeric_log_n(fit: Fit, thetas: Array, budgets: Array, per_token: Callable[[Array], Array]) -> Array:
    """log N_opt per draw and budget by a fine log-N grid and a parabola through the best three."""
    law = fit.law_spec
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
