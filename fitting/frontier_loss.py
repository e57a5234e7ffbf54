"""The loss on the compute-optimal frontier, L_opt(C), fitted to the loss at each IsoFLOP budget's
optimum: how the best reachable loss falls with compute.

Two forms: "power", L_opt = A C^-gamma (a straight line in log-log: the local behaviour over a
narrow range of C), and "offset", L_opt = E + A C^-gamma (an irreducible loss E; Hoffmann et al.
2022's parametric law gives this shape along its frontier up to a second power of C). "auto" takes
the offset form when at least OFFSET_BUDGETS budgets leave it residual degrees of freedom, else the
power form; the result states which.

The offset form is fitted by profiling E: for every E on a grid in [0, min L) the line of
log(L - E) on log C is least squares, and the E whose law best matches log L wins (refined once on
a finer grid around the best). The bootstrap resamples budgets and redraws every budget's own
replicate loss, as the N_opt(C) law does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fitting import _validate as check
from fitting.bootstrap import resample_weights
from fitting.laws.base import Array
from fitting.result import Estimate

LOSS_FORMS: tuple[str, ...] = ("auto", "power", "offset")
# Three parameters: five budgets leave two residual degrees of freedom for the offset form.
OFFSET_BUDGETS = 5
_GRID = 120  # E values per profiling pass (two passes)
_TOP = 0.999  # the largest E tried, as a fraction of the smallest loss


@dataclass(frozen=True)
class LossFrontier:
    """L_opt(C) = E + A C^-gamma (E = 0 for the "power" form), with bootstrap intervals."""

    form: str  # "power" or "offset"
    E: Estimate
    A: Estimate
    gamma: Estimate
    draws: Array  # (n_ok, 3): E, log A, gamma
    n_budgets: int

    def predict(self, compute: Any, level: float = 0.95) -> Estimate:
        """L_opt at `compute` FLOPs (scalar or array), with a bootstrap interval."""
        level = check.level_in_unit_interval(level)
        shape = np.shape(compute)
        log_c = np.log(check.as_positive_array("compute", compute))
        with np.errstate(over="ignore", under="ignore"):
            value = self.E.value + np.exp(np.log(self.A.value) - self.gamma.value * log_c)
            samples = self.draws[:, :1] + np.exp(self.draws[:, 1:2] - self.draws[:, 2:3] * log_c)
        return Estimate.from_samples(value, samples, level, shape)

    def to_dict(self) -> dict[str, Any]:
        return {
            "form": self.form,
            "E": self.E.to_dict(),
            "A": self.A.to_dict(),
            "gamma": self.gamma.to_dict(),
            "n_budgets": self.n_budgets,
            "draws": self.draws.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LossFrontier:
        """Inverse of to_dict."""
        return cls(
            form=data["form"],
            **{k: Estimate(**data[k]) for k in ("E", "A", "gamma")},
            draws=np.asarray(data.get("draws", []), dtype=float).reshape(-1, 3),
            n_budgets=int(data["n_budgets"]),
        )


def fit_loss_frontier(
    compute: Array,
    log_loss: Array,
    *,
    replicates: Array | None = None,
    form: str = "auto",
    bootstrap: int = 0,
    rng: np.random.Generator | None = None,
    level: float = 0.95,
) -> LossFrontier:
    """L_opt(C) through the budgets' optimum losses (log_loss (n,)); replicates (R, n): each budget's
    replicate log loss, redrawn in every bootstrap replicate (NaN: the budget sits that one out)."""
    if form not in LOSS_FORMS:
        raise ValueError(f"loss_form must be one of {', '.join(LOSS_FORMS)}, got {form!r}")
    n = compute.size
    chosen = ("offset" if n >= OFFSET_BUDGETS else "power") if form == "auto" else form
    log_c = np.log(compute)
    point = _fit(chosen, log_c, log_loss[None, :], np.ones((1, n)))[0]
    draws = np.empty((0, 3))
    if bootstrap:
        assert rng is not None, "a bootstrap needs its generator"
        counts = resample_weights(n, bootstrap, rng)
        values = np.broadcast_to(log_loss, (bootstrap, n))
        if replicates is not None:
            drawn = replicates[:bootstrap]
            counts = np.where(np.isfinite(drawn), counts, 0.0)
            values = np.where(np.isfinite(drawn), drawn, values)
        fitted = _fit(chosen, log_c, values, counts)
        draws = fitted[np.all(np.isfinite(fitted), axis=1)]
    return LossFrontier(
        form=chosen,
        E=Estimate.from_samples(point[0], draws[:, 0], level),
        A=Estimate.from_log_draws(point[1], draws[:, 1], level),
        gamma=Estimate.from_samples(point[2], draws[:, 2], level),
        draws=draws,
        n_budgets=n,
    )


def _fit(form: str, log_c: Array, log_loss: Array, weights: Array) -> Array:
    """(E, log A, gamma) per replicate (R, 3) for log losses and weights (R, n); NaN rows where the
    weighted budgets cannot determine the form (fewer distinct budgets than its parameters)."""
    distinct = np.array([np.unique(log_c[w > 0]).size for w in weights])
    needed = 2 if form == "power" else 3
    if form == "power":
        out = _line(log_c, log_loss[None], weights, np.zeros((1, weights.shape[0])))[0]
    else:
        out = _profile(log_c, log_loss, weights)
    out[distinct < needed] = np.nan
    return out


def _line(log_c: Array, log_loss: Array, weights: Array, offset: Array) -> Array:
    """For offsets E (G, R): the weighted line of log(L - E) on log C -> (G, R, 3) of (E, log A, gamma)."""
    gap = np.exp(log_loss) - offset[..., None]  # (G, R, n); E stays below every weighted loss
    y = np.log(np.where(gap > 0, gap, 1.0))
    total = weights.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    x_mean = (weights @ log_c) / safe
    y_mean = np.sum(weights * y, axis=-1) / safe
    dx = log_c[None, :] - x_mean[:, None]
    sxx = np.sum(weights * dx * dx, axis=1)
    sxy = np.sum(weights * dx * (y - y_mean[..., None]), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), np.nan)
    intercept = y_mean - slope * x_mean
    return np.stack([np.broadcast_to(offset, slope.shape), intercept, -slope], axis=-1)


def _profile(log_c: Array, log_loss: Array, weights: Array) -> Array:
    """The offset form per replicate: E on a grid in [0, min L), then a finer grid around the best."""
    floor = np.exp(np.min(np.where(weights > 0, log_loss, np.inf), axis=1))  # (R,)
    floor = np.where(np.isfinite(floor), floor, np.exp(log_loss.min()))
    low, high = np.zeros_like(floor), _TOP * floor
    best = np.full((weights.shape[0], 3), np.nan)
    for _ in range(2):
        grid = low[None, :] + (high - low)[None, :] * np.linspace(0.0, 1.0, _GRID)[:, None]  # (G, R)
        lines = _line(log_c, log_loss, weights, grid)
        with np.errstate(over="ignore", invalid="ignore"):
            predicted = np.log(lines[..., :1] + np.exp(lines[..., 1:2] - lines[..., 2:3] * log_c))
            error = np.sum(
                np.where(weights > 0, weights * (predicted - log_loss) ** 2, 0.0), axis=-1
            )  # (G, R)
        error = np.where(np.isfinite(error), error, np.inf)
        pick = np.argmin(error, axis=0)
        best = lines[pick, np.arange(weights.shape[0])]
        step = (high - low) / (_GRID - 1)
        low, high = np.maximum(best[:, 0] - step, 0.0), np.minimum(best[:, 0] + step, _TOP * floor)
    return best
