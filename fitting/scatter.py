"""How the run-to-run scatter of log losses changes with scale, where a study's runs show it.

A law's residuals need not scatter alike at every scale: on published ladders the smallest runs
(few tokens, short warmups, the regime the law fits worst) often scatter several times more than
the largest, and where a schedule is mis-tuned at large sizes the largest scatter more. One
residual standard error for all runs then makes the interval of a large run too wide or too
narrow. The scatter is modelled as multiplicative in the law's log inputs (Harvey 1976):

    r ~ Normal(0, s(x)^2),  log s(x)^2 = c0 + sum_k c_k (log x_k - centre_k) / spread_k,

fitted by maximum likelihood (Fisher scoring of the log-variance). It is used only where it beats
the constant scatter by Akaike's criterion, counted in independent runs (checkpoints of one run are
not independent evidence of a trend), and with as many degrees of freedom spent as it has terms.
It is never extrapolated: beyond the fitted range of an input it holds its value at the edge, and it
stays within the values it takes at the fitted runs (the trend is evidence about those runs only).
It enters the prediction interval as the constant scatter does, with the normal quantile: its
estimate's own uncertainty is not propagated beyond the degrees-of-freedom correction, the same
simplification the constant scatter makes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fitting.laws.base import Array

_MAX_STEPS = 100
_MAX_HALVINGS = 30
_TOLERANCE = 1e-9
# Below this mean squared log residual the runs lie on the law (noise-free data): no trend to find.
_NO_SCATTER = 1e-24


@dataclass(frozen=True)
class ScatterTrend:
    """log s(x)^2 = coef[0] + sum_k coef[k + 1] (log x_k - centre_k) / spread_k, times the degrees-of-
    freedom correction `scale`, within [floor, ceiling] and held flat beyond [lower, upper]."""

    coef: tuple[float, ...]
    centre: tuple[float, ...]
    spread: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    scale: float  # units / (units - parameters - trend terms): the residuals' lost degrees of freedom
    floor: float  # the smallest and largest variance at the fitted runs
    ceiling: float

    def variance(self, logx: Array) -> Array:
        """The scatter's variance (log loss) at log inputs (k, n)."""
        design = self._design(logx)
        return np.clip(self.scale * np.exp(design @ np.array(self.coef)), self.floor, self.ceiling)

    def _design(self, logx: Array) -> Array:
        """[1, standardised log inputs] per point (n, k + 1), each input held within its fitted range."""
        inside = np.clip(logx, np.array(self.lower)[:, None], np.array(self.upper)[:, None])
        z = (inside - np.array(self.centre)[:, None]) / np.array(self.spread)[:, None]
        return np.vstack([np.ones(logx.shape[1]), z]).T

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScatterTrend:
        """Inverse of to_dict."""
        return cls(
            **{k: tuple(float(x) for x in v) if isinstance(v, list) else float(v) for k, v in data.items()}
        )


def scatter_trend(residual: Array, logx: Array, units: int, n_params: int) -> ScatterTrend | None:
    """The scatter's trend in the log inputs logx (k, n) from a fit's log residuals, or None where
    the constant scatter is as good (Akaike's criterion in `units` independent runs), the runs leave
    no degree of freedom for it, an input does not vary, or the inputs move together (a ladder at one
    tokens-per-parameter ratio: no trend can tell log N from log D). n_params: the law's fitted
    parameters."""
    k, n = logx.shape
    dof = units - n_params - k
    mean_square = float(np.mean(residual**2))
    spread = logx.std(axis=1)
    if dof < 1 or mean_square < _NO_SCATTER or np.any(spread <= 0):
        return None
    centre = logx.mean(axis=1)
    design = np.vstack([np.ones(n), (logx - centre[:, None]) / spread[:, None]]).T  # (n, k + 1)
    if np.linalg.matrix_rank(design) < k + 1:
        return None
    squared = residual**2

    def negative_log_likelihood(coef: Array) -> float:
        """Up to a constant; convex in coef, +inf where it overflows."""
        log_variance = design @ coef
        with np.errstate(over="ignore", invalid="ignore"):
            value = 0.5 * float(np.sum(log_variance + squared * np.exp(-log_variance)))
        return value if math.isfinite(value) else math.inf

    coef = np.zeros(k + 1)
    coef[0] = math.log(mean_square)
    trend_nll = negative_log_likelihood(coef)
    # Fisher scoring (the expected information of a log-variance is 1/2 per row, whatever the
    # trend), each step halved until the likelihood rises: the objective is convex, so this converges.
    information = 0.5 * design.T @ design
    for _ in range(_MAX_STEPS):
        with np.errstate(over="ignore", invalid="ignore"):
            score = 0.5 * design.T @ (squared * np.exp(-(design @ coef)) - 1.0)
        try:
            step = np.linalg.solve(information, score)
        except np.linalg.LinAlgError:  # numerically singular despite full rank: no trend
            return None
        for _ in range(_MAX_HALVINGS):
            trial = negative_log_likelihood(coef + step)
            if trial <= trend_nll:
                break
            step = step / 2.0
        else:
            break
        coef, trend_nll = coef + step, trial
        if np.max(np.abs(step)) < _TOLERANCE:
            break
    else:
        return None  # no convergence: the constant scatter stands
    log_variance = design @ coef
    constant_nll = 0.5 * n * (math.log(mean_square) + 1.0)
    # Akaike's criterion, the likelihood counted per independent run (rows / units checkpoints each).
    if 2.0 * (units / n) * (constant_nll - trend_nll) <= 2.0 * k:
        return None
    scale = units / dof
    at_runs = scale * np.exp(log_variance)
    return ScatterTrend(
        coef=tuple(float(c) for c in coef),
        centre=tuple(float(c) for c in centre),
        spread=tuple(float(s) for s in spread),
        lower=tuple(float(v) for v in logx.min(axis=1)),
        upper=tuple(float(v) for v in logx.max(axis=1)),
        scale=float(scale),
        floor=float(at_runs.min()),
        ceiling=float(at_runs.max()),
    )
