"""How far off a loss law is where a user asks for it: beyond the fitted range, estimated from the
study's own runs.

A bootstrap interval says how uncertain the law's parameters are. A new run's loss also scatters
from run to run, and a law extrapolated beyond the runs it was fitted on is off by more the
further it goes (the law is only approximately right, and its error grows with distance). The
prediction interval adds both, each estimated from the data:

- scatter: the residual standard error of the fit's log losses (corrected for the parameters
  fitted, the degrees of freedom counted in runs when rows are grouped checkpoints), the run-to-run
  noise a new run at a fitted scale would show; where the runs show it changing with scale, by
  Akaike's criterion, its log-linear trend in the log inputs instead, held at its edge value
  beyond the fitted range (fitting.scatter): the noise a new run near the largest runs shows is
  estimated from the runs there, not from the smallest runs, which often scatter several times more;
- extrapolation: nested refits that hold out, in turn for each input (N, D, or the one input of a
  single-variable law), the runs beyond 1/6 and 1/3 of that input's log range from its top, and
  measure the log error on them (fitting.cuts; a refit keeps the law's parameters plus two runs, or
  groups). Each held-out run's error e is modelled as
  e ~ Normal(0, scatter^2 + sum_axis (slope_axis * distance_axis)^2), distance_axis being how many
  e-folds its input lies beyond the largest value the refit saw, scatter that of the held-out run's
  own scale; the slopes are the maximum likelihood estimates (scatter fixed).

A prediction at distance d then has the log half-width sqrt((z scatter)^2 + (t sum (slope d)^2)),
z the normal quantile and t Student's with as many degrees of freedom as refits (the slopes rest on
that many independent refits; errors within one refit share its bias), combined with the
bootstrap's parameter interval in quadrature.

A law of N and D is also extrapolated when a user asks for fewer tokens per parameter than any
fitted run (a large model early in its training): the regime where loss laws misfit most, since
the loss there still depends on warmup and schedule. That direction, log N - log D, gets its own
nested refits, which hold out the runs with the fewest tokens per parameter, and its own slope,
fitted after the others on those refits' errors beyond what the other slopes explain (scatter and
the N and D terms fixed as each held-out run's floor), with its own Student t. So it widens only
queries beyond the fitted runs' tokens per parameter and leaves every other interval as it was.

Assumptions: errors grow linearly in log-distance beyond the range (what the refits can measure:
one extrapolation of at most a third of the range, then read further), and the law that held for
the smaller runs holds in form for the larger ones.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.stats import norm
from scipy.stats import t as student_t

from fitting.cuts import Cut, independent_units, refit_cuts, top_cuts
from fitting.laws.base import Array, Law
from fitting.scatter import ScatterTrend, scatter_trend

# Held out, in turn: the runs beyond these shares of an input's log range, from its top. A refit
# needs its law's parameters plus two runs (groups) and three distinct values of the held-out input
# (fitting.cuts).
HOLDOUT_SHARES = (1.0 / 6.0, 1.0 / 3.0)
# The derived direction of a law of N and D: parameters per token, log N - log D (larger: fewer tokens
# per parameter).
RATIO_AXIS = "N/D"


@functools.lru_cache(maxsize=64)
def _quantiles(level: float, refits: int) -> tuple[float, float]:
    """The normal and Student t (refits degrees of freedom) quantiles of a two-sided `level`:
    cached, since scipy's ppf costs more than the rest of a prediction."""
    upper = 0.5 + level / 2.0
    return float(norm.ppf(upper)), float(student_t.ppf(upper, max(refits, 1)))


@dataclass(frozen=True)
class HeldOutError:
    """One nested refit: which input was cut, where, and the error on the runs beyond the cut."""

    axis: str
    share: float  # the top share of the axis's log range held out
    n_heldout: int
    relative_error: float  # mean |predicted / actual - 1| on the held-out runs
    max_distance: float  # the largest e-folds beyond the refit's range among them

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RatioTerm:
    """The error's growth beyond the fitted runs' fewest tokens per parameter: `slope` (sd of log loss
    per e-fold of N/D beyond the largest fitted N/D, whose log is `log_maximum`: finite where N/D
    itself may not be), measured on `refits` nested refits."""

    slope: float
    log_maximum: float
    refits: int

    @property
    def maximum(self) -> float:
        """The largest fitted N/D (parameters per token)."""
        with np.errstate(over="ignore"):
            return float(np.exp(self.log_maximum))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ErrorModel:
    """The log-loss error of a prediction: run-to-run scatter, and growth beyond the fitted range."""

    scatter: float  # sd of log loss of a new run at a fitted scale (one value for every scale)
    slopes: dict[str, float]  # per input: sd added per e-fold beyond the fitted maximum
    maxima: dict[str, float]  # per input: the largest fitted value (natural units)
    refits: int  # nested refits the slopes rest on (0: extrapolation error unknown)
    held_out: tuple[HeldOutError, ...] = ()
    trend: ScatterTrend | None = None  # the scatter's change with scale, where the runs show one
    ratio: RatioTerm | None = None  # a law of N and D: the error beyond the fitted tokens per parameter

    def variance(self, logx: Array) -> Array:
        """The scatter's variance (log loss) of a new run at log inputs (k, n)."""
        if self.trend is None:
            return np.full(logx.shape[1], self.scatter**2)
        return self.trend.variance(logx)

    def half_width(self, level: float, logx: Array) -> Array:
        """Log half-width of the prediction interval (without the parameter part) at log inputs (k, n)."""
        z, t = _quantiles(level, self.refits)
        extrapolation = np.zeros(logx.shape[1])
        for row, name in enumerate(self.maxima):
            beyond = np.maximum(0.0, logx[row] - math.log(self.maxima[name]))
            extrapolation = extrapolation + (self.slopes.get(name, 0.0) * beyond) ** 2
        variance = self.variance(logx)
        if self.refits == 0:
            # No refit measured how the law extrapolates: beyond the range the error is unknown.
            unknown = np.any(logx > np.log(np.array(list(self.maxima.values())))[:, None] + 1e-12, axis=0)
            return np.where(unknown, np.inf, z * np.sqrt(variance))
        squared = z**2 * variance + t**2 * extrapolation
        if self.ratio is not None and self.ratio.slope > 0:
            names = list(self.maxima)
            beyond = np.maximum(0.0, logx[names.index("N")] - logx[names.index("D")] - self.ratio.log_maximum)
            squared = squared + (_quantiles(level, self.ratio.refits)[1] * self.ratio.slope * beyond) ** 2
        return np.sqrt(squared)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scatter": self.scatter,
            "slopes": dict(self.slopes),
            "maxima": dict(self.maxima),
            "refits": self.refits,
            "held_out": [h.to_dict() for h in self.held_out],
            "trend": self.trend.to_dict() if self.trend is not None else None,
            "ratio": self.ratio.to_dict() if self.ratio is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorModel:
        """Inverse of to_dict (a model stored before the trend existed has one scatter for all scales)."""
        return cls(
            scatter=float(data["scatter"]),
            slopes={k: float(v) for k, v in data["slopes"].items()},
            maxima={k: float(v) for k, v in data["maxima"].items()},
            refits=int(data["refits"]),
            held_out=tuple(HeldOutError(**h) for h in data.get("held_out", ())),
            trend=ScatterTrend.from_dict(data["trend"]) if data.get("trend") else None,
            ratio=RatioTerm(**data["ratio"]) if data.get("ratio") else None,
        )


def estimate_error_model(
    law: Law,
    names: tuple[str, ...],
    logx: Array,
    target: Array,
    theta: Array,
    starts: Array,
    delta: float,
    groups: Array | None = None,
) -> ErrorModel:
    """The error model of a fit: `theta` its point estimate, `starts` the competitive minima to
    restart the nested refits from, `names` the inputs (rows of logx), `groups` each row's group
    code (checkpoints of one run) or None when every row is its own run."""
    n_rows = target.shape[0]
    residual = target - law.log_value(theta[None, :], logx)[0]
    # The residual standard error, sum r^2 / (n - p): not the MAD, which a Huber fit with a small
    # delta biases low (it behaves as a median fit, passing through some runs exactly). With groups
    # the degrees of freedom are counted in groups, mean(r^2) * G / (G - p): the p parameters are
    # pinned by G independent runs, not by n correlated checkpoints (the same as n - p when G = n).
    units = independent_units(np.ones(n_rows, dtype=bool), groups)
    mean_square = float(np.mean(residual**2))
    scatter = math.sqrt(mean_square * units / max(1, units - law.n_params))
    trend = scatter_trend(residual, logx, units, law.n_params)
    maxima = {name: float(np.exp(logx[row].max())) for row, name in enumerate(names)}

    cuts = top_cuts(names, logx, HOLDOUT_SHARES, law.n_params, groups)
    if not cuts:
        return ErrorModel(scatter, {}, maxima, 0, trend=trend)

    errors, beyond, _, floors, held_out = _cut_errors(
        law, cuts, logx, logx, target, starts, delta, trend, scatter
    )
    slopes = _slopes(errors, beyond, floors)
    slope_of = dict(zip(names, slopes, strict=True))
    ratio, ratio_held = _ratio_term(law, names, logx, target, starts, delta, groups, trend, scatter, slope_of)
    return ErrorModel(scatter, slope_of, maxima, len(cuts), held_out + ratio_held, trend, ratio)


def _cut_errors(
    law: Law,
    cuts: list[Cut],
    axes: Array,
    logx: Array,
    target: Array,
    starts: Array,
    delta: float,
    trend: ScatterTrend | None,
    scatter: float,
) -> tuple[Array, Array, Array, Array, tuple[HeldOutError, ...]]:
    """Refit each cut (every refit from every start in one batched solve: the rows a refit holds out
    weigh zero) and measure its held-out runs: their log errors, how far each lies beyond what the
    refit saw along the rows of `axes` (the cuts' coordinates: the law's inputs, or the N/D
    direction) and along the law's inputs `logx`, and each run's scatter variance at its own scale;
    all concatenated over the cuts, with one HeldOutError per cut."""
    errors, along_axes, along_inputs, floors, held_out = [], [], [], [], []
    for cut, best in zip(cuts, refit_cuts(law, cuts, logx, target, starts, delta), strict=True):
        held, kept = cut.held, cut.kept
        error = target[held] - law.log_value(best[None, :], logx[:, held])[0]
        past = np.maximum(0.0, axes[:, held] - axes[:, kept].max(axis=1, keepdims=True))
        errors.append(error)
        along_axes.append(past)
        along_inputs.append(np.maximum(0.0, logx[:, held] - logx[:, kept].max(axis=1, keepdims=True)))
        floors.append(trend.variance(logx[:, held]) if trend is not None else np.full(error.size, scatter**2))
        held_out.append(
            HeldOutError(
                axis=cut.axis,
                share=cut.share,
                n_heldout=int(held.sum()),
                relative_error=float(np.mean(np.abs(np.exp(-error) - 1.0))),
                max_distance=float(past[cut.row].max()),
            )
        )
    return (
        np.concatenate(errors),
        np.concatenate(along_axes, axis=1),
        np.concatenate(along_inputs, axis=1),
        np.concatenate(floors),
        tuple(held_out),
    )


def _ratio_term(
    law: Law,
    names: tuple[str, ...],
    logx: Array,
    target: Array,
    starts: Array,
    delta: float,
    groups: Array | None,
    trend: ScatterTrend | None,
    scatter: float,
    slopes: dict[str, float],
) -> tuple[RatioTerm | None, tuple[HeldOutError, ...]]:
    """The N/D direction of a law of N and D: nested refits without the runs of the fewest tokens per
    parameter, and the slope of their errors beyond what scatter and the N and D slopes explain.
    None when the law has no N and D or no such refit can be fitted."""
    if "N" not in names or "D" not in names:
        return None, ()
    ratio = (logx[names.index("N")] - logx[names.index("D")])[None, :]
    cuts = top_cuts((RATIO_AXIS,), ratio, HOLDOUT_SHARES, law.n_params, groups)
    if not cuts:
        return None, ()
    errors, past, beyond, floors, held_out = _cut_errors(
        law, cuts, ratio, logx, target, starts, delta, trend, scatter
    )
    # What the scatter and the N and D terms already allow for these runs.
    floors = floors + sum((slopes[name] * beyond[row]) ** 2 for row, name in enumerate(names))
    (slope,) = _slopes(errors, past, floors)
    return RatioTerm(float(slope), float(ratio.max()), len(cuts)), held_out


def _slopes(errors: Array, distances: Array, floors: Array) -> Array:
    """Maximum-likelihood slopes of e ~ Normal(0, scatter^2 + sum (slope_k distance_k)^2), slopes >= 0,
    floors: each error's scatter^2 (that of its run's scale)."""
    floor = np.maximum(floors, 1e-12)
    squared = distances**2  # (k, m)

    def negative_log_likelihood(log_slopes: Array) -> float:
        variance = floor + np.exp(2.0 * log_slopes) @ squared
        return float(np.sum(0.5 * np.log(variance) + errors**2 / (2.0 * variance)))

    start = np.full(distances.shape[0], math.log(max(float(np.std(errors)), 1e-4)))
    found = minimize(
        negative_log_likelihood, start, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-9}
    )
    slopes = np.exp(found.x)
    # An input never extrapolated in any refit carries no information: its slope is 0, not the start.
    slopes[~np.any(distances > 0, axis=1)] = 0.0
    return slopes
