"""Critical batch size three ways, each with bootstrap intervals, and Kaplan's step law that uses it.

1. McCandlish et al. 2018: at a target loss, runs at batch B need S steps and E = B S examples;
   (S/S_min - 1)(E/E_min - 1) = 1 (eq. 2.11), i.e. S = S_min (1 + B_crit/B), B_crit = E_min/S_min.
2. Kaplan et al. 2020: B_crit(L) = B* / L^(1/alpha_B) across targets (eq. 5.1).
3. Zhang et al. 2024 ("How Does Critical Batch Size Scale in Pre-training?"): B_crit as a power
   law in data D and model size N.
Then Kaplan's L(N, S_min) = (N_c/N)^alpha_N + (S_c/S_min)^alpha_S with S_min = S/(1 + B_crit(L)/B)
(eq. 5.4, 1.6), so a loss trajectory can be predicted for any batch size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fitting import _validate as check
from fitting.bootstrap import bootstrap_fit, resample_weights
from fitting.hparams import weighted_least_squares
from fitting.laws.base import Array
from fitting.laws.critical_batch import KAPLAN_STEPS
from fitting.objective import DEFAULT_DELTA
from fitting.result import Estimate, percentile_interval
from fitting.search import global_search

# log B_crit is searched on a grid this many e-folds beyond the batch sizes tried, then refined.
_GRID_MARGIN = 6.0
_GRID_POINTS = 2401
_FIXED_POINT_ITERATIONS = 60
# The trade-off S = S_min (1 + B_crit/B) has two parameters: 3 batch sizes leave one to judge the fit.
MIN_BATCH_SIZES = 3
# B_crit(L) = B*/L^(1/alpha_B) has two parameters: 3 target losses at least.
MIN_TARGETS = 3


@dataclass(frozen=True)
class CriticalBatch:
    """McCandlish et al. 2018 fit at one target loss."""

    target_loss: float | None
    b_crit: Estimate  # E_min / S_min, in the units of `batch`
    s_min: Estimate
    e_min: Estimate
    n_runs: int
    at_edge: bool  # B_crit is not bracketed by the batch sizes tried
    draws: Array = field(repr=False, default_factory=lambda: np.empty(0))  # (R,) log B_crit replicates
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_loss": self.target_loss,
            "b_crit": self.b_crit.to_dict(),
            "s_min": self.s_min.to_dict(),
            "e_min": self.e_min.to_dict(),
            "n_runs": self.n_runs,
            "at_edge": self.at_edge,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CriticalBatch:
        """Inverse of to_dict (the replicate draws are not stored: a restored fit has none)."""
        return cls(
            target_loss=data["target_loss"],
            b_crit=_estimate(data["b_crit"]),
            s_min=_estimate(data["s_min"]),
            e_min=_estimate(data["e_min"]),
            n_runs=int(data["n_runs"]),
            at_edge=bool(data["at_edge"]),
            warnings=list(data.get("warnings", [])),
        )


def _estimate(data: dict[str, Any]) -> Estimate:
    """An Estimate from its to_dict form; JSON null (a NaN bound) back to NaN."""
    nan = float("nan")
    return Estimate(
        value=float(data["value"]),
        lo=nan if data["lo"] is None else float(data["lo"]),
        hi=nan if data["hi"] is None else float(data["hi"]),
        level=float(data["level"]),
    )


def steps_examples_tradeoff(
    batch: Any,
    steps: Any,
    *,
    target_loss: float | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> CriticalBatch:
    """B_crit, S_min, E_min from the steps runs at several batch sizes needed to reach one target loss.

    Least squares in log S of S = S_min (1 + B_crit/B) (McCandlish et al. 2018, eq. 2.11): for each
    B_crit the best log S_min is a weighted mean, so the fit is a 1-D profile over log B_crit.
    Bootstrap resamples the runs.
    """
    bootstrap = check.non_negative_int("bootstrap", bootstrap)
    seed = check.non_negative_int("seed", seed)
    level = check.level_in_unit_interval(level)
    arrays, n = check.positive_arrays(batch=batch, steps=steps)
    if np.unique(arrays["batch"]).size < MIN_BATCH_SIZES:
        raise ValueError(
            f"batch takes {np.unique(arrays['batch']).size} distinct value(s): the steps-examples trade-off "
            f"needs runs at {MIN_BATCH_SIZES} or more batch sizes reaching the target"
        )
    log_b, log_s = np.log(arrays["batch"]), np.log(arrays["steps"])
    grid = np.linspace(log_b.min() - _GRID_MARGIN, log_b.max() + _GRID_MARGIN, _GRID_POINTS)
    # residual base r_ig = log S_i - log(1 + B_crit_g / B_i); log S_min = weighted mean over i.
    base = log_s[None, :] - np.logaddexp(0.0, grid[:, None] - log_b[None, :])  # (G, n)
    weights = np.ones((1, n))
    if bootstrap:
        weights = np.vstack([weights, resample_weights(n, bootstrap, np.random.default_rng(seed))])
    log_crit, log_smin = _profile(grid, base, weights)
    log_emin = log_crit + log_smin  # E_min = B_crit S_min (McCandlish et al. 2018, eq. 2.12)
    at_edge = bool(log_crit[0] <= log_b.min() - 1.0 or log_crit[0] >= log_b.max() + 1.0)
    warnings = []
    if at_edge:
        warnings.append(
            "B_crit lies more than e times outside the batch sizes tried, so it is an extrapolation: "
            "add runs at batch sizes around the estimate"
        )

    def estimate(values: Array) -> Estimate:
        lo, hi = percentile_interval(values[1:], level) if bootstrap else (np.nan, np.nan)
        return Estimate(float(np.exp(values[0])), float(np.exp(lo)), float(np.exp(hi)), level)

    return CriticalBatch(
        target_loss=target_loss,
        b_crit=estimate(log_crit),
        s_min=estimate(log_smin),
        e_min=estimate(log_emin),
        n_runs=n,
        at_edge=at_edge,
        draws=log_crit[1:],
        warnings=warnings,
    )


def _profile(grid: Array, base: Array, weights: Array) -> tuple[Array, Array]:
    """Per weight row: the log B_crit minimising the weighted squared residual, refined by a parabola."""
    total = weights.sum(axis=1, keepdims=True)  # (R, 1)
    mean = (weights @ base.T) / total  # (R, G)
    second = (weights @ (base**2).T) / total
    sse = second - mean**2  # weighted variance of the residual base = SSE / total
    best = np.clip(np.argmin(sse, axis=1), 1, grid.size - 2)
    rows = np.arange(weights.shape[0])
    y0, y1, y2 = sse[rows, best - 1], sse[rows, best], sse[rows, best + 1]
    curvature = y0 - 2 * y1 + y2
    offset = np.where(curvature > 0, 0.5 * (y0 - y2) / np.where(curvature > 0, curvature, 1.0), 0.0)
    step = grid[1] - grid[0]
    log_crit = grid[best] + np.clip(offset, -1, 1) * step
    # log S_min: the profile's mean, interpolated linearly to the refined point.
    frac = np.clip(offset, -1, 1)
    log_smin = np.where(
        frac >= 0,
        mean[rows, best] + frac * (mean[rows, best + 1] - mean[rows, best]),
        mean[rows, best] - frac * (mean[rows, best - 1] - mean[rows, best]),
    )
    return log_crit, log_smin


@dataclass(frozen=True)
class PowerLaw:
    """y = coef * prod x_k^exponent_k fitted in log space, with bootstrap intervals."""

    inputs: tuple[str, ...]
    coef: Estimate
    exponents: dict[str, Estimate]
    draws: Array  # (n_ok, 1 + k): log coef, exponents
    n_points: int
    warnings: list[str] = field(default_factory=list)

    def predict(self, level: float = 0.95, **inputs: Any) -> Estimate:
        """y at the given inputs (scalars), with a bootstrap interval."""
        level = check.level_in_unit_interval(level)
        missing = [k for k in self.inputs if k not in inputs]
        if missing:
            raise ValueError(f"predict needs {', '.join(missing)}= (this law takes {', '.join(self.inputs)})")
        logx = np.array([np.log(check.positive_float(k, inputs[k])) for k in self.inputs])
        point = np.log(self.coef.value) + sum(
            self.exponents[k].value * logx[i] for i, k in enumerate(self.inputs)
        )
        if self.draws.shape[0]:
            lo, hi = percentile_interval(self.draws[:, 0] + self.draws[:, 1:] @ logx, level)
        else:
            lo = hi = np.nan
        return Estimate(float(np.exp(point)), float(np.exp(lo)), float(np.exp(hi)), level)

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": list(self.inputs),
            "coef": self.coef.to_dict(),
            "exponents": {k: v.to_dict() for k, v in self.exponents.items()},
            "n_points": self.n_points,
            "draws": self.draws.tolist(),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PowerLaw:
        """Inverse of to_dict, draws included, so a stored law predicts with its interval."""
        inputs = tuple(data["inputs"])
        return cls(
            inputs=inputs,
            coef=_estimate(data["coef"]),
            exponents={k: _estimate(v) for k, v in data["exponents"].items()},
            draws=np.asarray(data.get("draws", []), dtype=float).reshape(-1, 1 + len(inputs)),
            n_points=int(data["n_points"]),
            warnings=list(data.get("warnings", [])),
        )


def _log_linear(
    inputs: dict[str, Array],
    values: Array,
    replicates: Array | None,
    bootstrap: int,
    rng: np.random.Generator,
    level: float,
) -> PowerLaw:
    """log y = log coef + sum e_k log x_k by least squares; bootstrap over points, each replicate
    also redrawing every point's own replicate value when `replicates` (R, n) is given."""
    n = values.size
    design = np.column_stack([np.ones(n), *[np.log(v) for v in inputs.values()]])
    point = weighted_least_squares(design, np.log(values)[None, :], np.ones((1, n)))[0]
    draws = np.empty((0, design.shape[1]))
    warnings = []
    if bootstrap:
        counts = resample_weights(n, bootstrap, rng)
        targets = (
            replicates[:bootstrap]
            if replicates is not None
            else np.broadcast_to(np.log(values), (bootstrap, n))
        )
        counts = np.where(np.isfinite(targets), counts, 0.0)
        fitted = weighted_least_squares(design, np.nan_to_num(targets), counts)
        ok = np.all(np.isfinite(fitted), axis=1)
        draws = fitted[ok]
        if np.any(~ok):
            warnings.append(
                f"{int(np.sum(~ok))} of {bootstrap} replicates could not be fitted and are left out"
            )

    def estimate(i: int, exponentiate: bool) -> Estimate:
        transform = np.exp if exponentiate else (lambda v: v)
        lo, hi = percentile_interval(draws[:, i], level) if draws.shape[0] else (np.nan, np.nan)
        return Estimate(float(transform(point[i])), float(transform(lo)), float(transform(hi)), level)

    return PowerLaw(
        inputs=tuple(inputs),
        coef=estimate(0, True),
        exponents={k: estimate(i + 1, False) for i, k in enumerate(inputs)},
        draws=draws,
        n_points=n,
        warnings=warnings,
    )


@dataclass(frozen=True)
class CriticalBatchCurve:
    """B_crit(L) = B_star / L^(1/alpha_B) (Kaplan et al. 2020, eq. 5.1) from per-target trade-offs."""

    b_star: Estimate
    alpha_b: Estimate
    per_target: tuple[CriticalBatch, ...]
    law: PowerLaw
    warnings: list[str] = field(default_factory=list)

    def b_crit(self, loss: float, level: float = 0.95) -> Estimate:
        """Critical batch size at a loss value, with its interval."""
        return self.law.predict(level, L=loss)

    @property
    def loss_range(self) -> tuple[float, float]:
        """Smallest and largest target loss the curve was fitted on (outside it, B_crit is extrapolated)."""
        losses = [c.target_loss for c in self.per_target if not c.at_edge and c.target_loss is not None]
        return (min(losses), max(losses)) if losses else (float("nan"), float("nan"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form with the B_crit(L) law's draws, so a stored curve predicts without refitting."""
        return {
            "kind": "critical_batch",
            "b_star": self.b_star.to_dict(),
            "alpha_b": self.alpha_b.to_dict(),
            "per_target": [c.to_dict() for c in self.per_target],
            "law": self.law.to_dict(),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CriticalBatchCurve:
        """Inverse of to_dict (keys it does not know, such as a caller's notes, are ignored)."""
        return cls(
            b_star=_estimate(data["b_star"]),
            alpha_b=_estimate(data["alpha_b"]),
            per_target=tuple(CriticalBatch.from_dict(c) for c in data["per_target"]),
            law=PowerLaw.from_dict(data["law"]),
            warnings=list(data.get("warnings", [])),
        )


def critical_batch_curve(
    *,
    batch: Any,
    steps: Any,
    target_loss: Any,
    bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> CriticalBatchCurve:
    """Per target loss a McCandlish fit, then B_crit(L) = B*/L^(1/alpha_B) across targets.

    batch, steps, target_loss: one row per (run, target) with the steps that run needed to reach it.
    """
    bootstrap = check.non_negative_int("bootstrap", bootstrap)
    seed = check.non_negative_int("seed", seed)
    level = check.level_in_unit_interval(level)
    arrays, _ = check.positive_arrays(batch=batch, steps=steps, target_loss=target_loss)
    targets = np.unique(arrays["target_loss"])
    if targets.size < MIN_TARGETS:
        raise ValueError(
            f"target_loss takes {targets.size} distinct value(s): B_crit(L) needs {MIN_TARGETS} or more targets"
        )
    per_target = []
    for i, target in enumerate(targets):
        rows = arrays["target_loss"] == target
        per_target.append(
            steps_examples_tradeoff(
                arrays["batch"][rows],
                arrays["steps"][rows],
                target_loss=float(target),
                bootstrap=bootstrap,
                seed=seed + i,
                level=level,
            )
        )
    usable = [c for c in per_target if not c.at_edge]
    warnings = [f"target {c.target_loss:g}: {w}" for c in per_target for w in c.warnings]
    if len(usable) < MIN_TARGETS:
        raise ValueError(
            f"only {len(usable)} targets have B_crit within the batch sizes tried; B_crit(L) needs {MIN_TARGETS}: "
            "add runs at larger and smaller batch sizes"
        )
    losses = np.array([c.target_loss for c in usable])
    values = np.array([c.b_crit.value for c in usable])
    replicates = np.stack([c.draws for c in usable], axis=1) if bootstrap else None
    law = _log_linear({"L": losses}, values, replicates, bootstrap, np.random.default_rng(seed), level)
    # log B = log B* - (1/alpha_B) log L, so alpha_B = -1/slope.
    slope = law.exponents["L"]
    alpha_draws = -1.0 / law.draws[:, 1] if law.draws.shape[0] else np.empty(0)
    lo, hi = percentile_interval(alpha_draws, level) if alpha_draws.size else (np.nan, np.nan)
    return CriticalBatchCurve(
        b_star=law.coef,
        alpha_b=Estimate(float(-1.0 / slope.value), float(lo), float(hi), level),
        per_target=tuple(per_target),
        law=law,
        warnings=warnings + law.warnings,
    )


def critical_batch_scaling(
    *,
    b_crit: Any,
    D: Any = None,
    N: Any = None,
    bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> PowerLaw:
    """B_crit = a D^c, a N^b or a N^b D^c (Zhang et al. 2024: B_crit grows with data D, barely with N
    at fixed D), in log space with a bootstrap over the measured points."""
    bootstrap = check.non_negative_int("bootstrap", bootstrap)
    seed = check.non_negative_int("seed", seed)
    level = check.level_in_unit_interval(level)
    if N is None and D is None:
        raise ValueError("critical_batch_scaling needs D= (tokens) and/or N= (parameters) per B_crit value")
    arrays, n = check.positive_arrays(b_crit=b_crit, N=N, D=D)
    values = arrays.pop("b_crit")
    inputs = arrays
    check.enough_points(n, len(inputs) + 1, "critical_batch_scaling")
    for name, v in inputs.items():
        check.distinct_values(name, v, "critical_batch_scaling")
    return _log_linear(inputs, values, None, bootstrap, np.random.default_rng(seed), level)


@dataclass(frozen=True)
class KaplanStepLaw:
    """Kaplan et al. 2020 L(N, S_min) fitted with a given B_crit(L) curve."""

    params: dict[str, float]
    ci95: dict[str, tuple[float, float]] | None
    theta: Array
    draws: Array  # (n_ok, 4) natural parameters
    b_star: float
    alpha_b: float
    warnings: list[str] = field(default_factory=list)

    def predict(self, *, N: Any, steps: Any, batch: Any, level: float = 0.95) -> Estimate:
        """Loss after `steps` at `batch`: L solves L = law(N, S/(1 + B_crit(L)/B)) (Kaplan eq. 5.4)."""
        level = check.level_in_unit_interval(level)
        n_params = check.positive_float("N", N)
        s = check.positive_float("steps", steps)
        b = check.positive_float("batch", batch)
        thetas = (
            np.vstack([self.theta[None, :], KAPLAN_STEPS.from_natural(self.draws)])
            if self.draws.size
            else self.theta[None, :]
        )
        loss = self._solve(thetas, n_params, s, b)
        lo, hi = percentile_interval(loss[1:], level) if loss.size > 1 else (np.nan, np.nan)
        return Estimate(float(loss[0]), float(lo), float(hi), level)

    def _solve(self, thetas: Array, n_params: float, steps: float, batch: float) -> Array:
        log_loss = np.zeros(thetas.shape[0])
        for _ in range(_FIXED_POINT_ITERATIONS):
            b_crit = self.b_star / np.exp(log_loss) ** (1.0 / self.alpha_b)  # Kaplan et al. 2020, eq. 5.1
            s_min = steps / (1.0 + b_crit / batch)  # eq. 5.4
            logx = np.stack([np.full_like(s_min, np.log(n_params)), np.log(s_min)])
            values, _ = KAPLAN_STEPS.log_predict(thetas, logx)
            log_loss = np.diagonal(values)
        return np.exp(log_loss)


def fit_step_law(
    *,
    N: Any,
    steps: Any,
    batch: Any,
    loss: Any,
    b_star: float,
    alpha_b: float,
    bootstrap: int = 1000,
    seed: int = 0,
    delta: float = DEFAULT_DELTA,
) -> KaplanStepLaw:
    """Fit L(N, S_min) = (N_c/N)^alpha_N + (S_c/S_min)^alpha_S to curve points, S_min = S/(1 + B_crit(L)/B)
    with B_crit(L) = b_star / L^(1/alpha_b) (Kaplan et al. 2020, eqs. 1.6, 5.1, 5.4); Huber on log loss,
    multi-start, bootstrap over points, like the loss laws."""
    bootstrap = check.non_negative_int("bootstrap", bootstrap)
    seed = check.non_negative_int("seed", seed)
    b_star = check.positive_float("b_star", b_star)
    alpha_b = check.positive_float("alpha_b", alpha_b)
    delta = check.positive_float("delta", delta)
    arrays, n = check.positive_arrays(N=N, steps=steps, batch=batch, loss=loss)
    check.enough_points(n, KAPLAN_STEPS.n_params, "kaplan_steps")
    check.distinct_values("N", arrays["N"], "kaplan_steps")
    b_crit = b_star / arrays["loss"] ** (1.0 / alpha_b)  # Kaplan et al. 2020, eq. 5.1
    s_min = arrays["steps"] / (1.0 + b_crit / arrays["batch"])  # eq. 5.4
    logx = np.log(np.stack([arrays["N"], s_min]))
    target = np.log(arrays["loss"])
    search = global_search(KAPLAN_STEPS, logx, target, delta)
    warnings = [] if search.converged else ["the point estimate did not meet the convergence test"]
    draws = np.empty((0, 4))
    if bootstrap:
        replicates = bootstrap_fit(
            KAPLAN_STEPS, logx, target, delta, search.basins, bootstrap, np.random.default_rng(seed)
        )
        draws = KAPLAN_STEPS.to_natural(replicates.theta)
        if replicates.n_failed:
            warnings.append(f"{replicates.n_failed} of {bootstrap} bootstrap replicates did not converge")
    natural = KAPLAN_STEPS.to_natural(search.theta)
    names = KAPLAN_STEPS.param_names
    ci95 = None
    if draws.shape[0]:
        lo, hi = percentile_interval(draws, 0.95)
        ci95 = {k: (float(lo[i]), float(hi[i])) for i, k in enumerate(names)}
    return KaplanStepLaw(
        params={k: float(natural[i]) for i, k in enumerate(names)},
        ci95=ci95,
        theta=search.theta,
        draws=draws,
        b_star=b_star,
        alpha_b=alpha_b,
        warnings=warnings,
    )


def smooth_loss(loss: Any, window: int = 1) -> Array:
    """Centred moving average of a loss curve over `window` points (odd; shrinking at the ends).

    Centred, so it neither lags behind the curve (as an exponential average does, making every
    target look reached later) nor picks the lucky low points of a noisy curve (as a running
    minimum does, making every target look reached earlier). window=1 leaves the curve as is:
    eval losses are already averages over many batches.
    """
    values = np.asarray(loss, dtype=float)
    window = check.non_negative_int("window", window)
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number of points, got {window}")
    if window == 1 or values.size < 2:
        return values.copy()
    half = window // 2
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(values.size)
    lo, hi = np.maximum(index - half, 0), np.minimum(index + half + 1, values.size)
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)


def steps_to_target(steps: Any, loss: Any, target_loss: Any, *, window: int = 1) -> Array:
    """Steps a run needed to first reach each target loss, from its (smoothed) loss curve.

    The first point at or below the target and the point before it bracket the crossing, which is
    interpolated linearly in (log step, log loss): loss curves are close to power laws in steps
    (Kaplan et al. 2020, eq. 1.6), so this is exact for a power law between two points. NaN for a
    target the curve never reaches, or reaches already at its first point (the crossing is unknown).
    """
    step_values = np.asarray(steps, dtype=float)
    curve = smooth_loss(loss, window)
    targets = np.atleast_1d(np.asarray(target_loss, dtype=float))
    if step_values.shape != curve.shape or step_values.ndim != 1:
        raise ValueError(
            f"steps and loss must be one value per curve point (got {step_values.shape} and {curve.shape})"
        )
    if step_values.size and np.any(np.diff(step_values) <= 0):
        raise ValueError("steps must increase strictly along the curve")
    if np.any(~np.isfinite(curve)) or np.any(curve <= 0):
        raise ValueError("loss must be positive and finite at every curve point")
    out = np.full(targets.shape, np.nan)
    for k, target in enumerate(targets):
        below = np.flatnonzero(curve <= target)
        if below.size == 0 or below[0] == 0:
            continue
        i = below[0]
        x0, x1 = step_values[i - 1], step_values[i]
        y0, y1 = np.log(curve[i - 1]), np.log(curve[i])
        fraction = 1.0 if y0 == y1 else (y0 - np.log(target)) / (y0 - y1)
        if x0 > 0:
            out[k] = float(np.exp(np.log(x0) + fraction * (np.log(x1) - np.log(x0))))
        else:  # a point at step 0 has no log: linear in steps instead
            out[k] = float(x0 + fraction * (x1 - x0))
    return out


def shared_targets(curves: Any, *, count: int = 5, skip: float = 0.1) -> Array:
    """`count` target losses every curve reaches, evenly spaced in log loss, for critical_batch_curve.

    curves: the smoothed loss curves (one array each). The lowest target is just above the highest
    final minimum (every run gets there); the highest is the lowest loss any curve had at `skip` of
    its points (and not before its third point), so every target is crossed after the early
    transient and between two measured points. Empty when the curves share no such range.
    """
    count = check.non_negative_int("count", count)
    if not 0.0 <= skip < 1.0:
        raise ValueError(f"skip must be in [0, 1), got {skip!r}")
    arrays = [np.asarray(c, dtype=float) for c in curves]
    if count < 1 or not arrays or any(a.size < 4 for a in arrays):
        return np.empty(0)
    low = max(float(np.min(a)) for a in arrays)
    high = min(float(a[max(2, int(np.ceil(skip * (a.size - 1))))]) for a in arrays)
    if not high > low * (1 + 1e-3):
        return np.empty(0)
    # Stay a little inside both ends, so no target sits exactly on a curve's lowest point.
    margin = 0.05 * (np.log(high) - np.log(low))
    return np.exp(np.linspace(np.log(low) + margin, np.log(high) - margin, count))
