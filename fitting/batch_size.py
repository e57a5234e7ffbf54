"""The critical batch size measured from runs, three ways, each with bootstrap intervals.

1. McCandlish et al. 2018: at a target loss, runs at batch B need S steps and E = B S examples;
   (S/S_min - 1)(E/E_min - 1) = 1 (eq. 2.11), i.e. S = S_min (1 + B_crit/B), B_crit = E_min/S_min.
2. Kaplan et al. 2020: B_crit(L) = B* / L^(1/alpha_B) across targets (eq. 5.1).
3. Zhang et al. 2024 ("How Does Critical Batch Size Scale in Pre-training?"): B_crit as a power
   law in data D and model size N.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fitting import _validate as check
from fitting.bootstrap import resample_weights
from fitting.laws.base import Array
from fitting.laws.critical_batch import log_steps_factor
from fitting.log_linear import PowerLaw, fit_power_law
from fitting.result import Estimate

# log B_crit is searched on a grid this many e-folds beyond the batch sizes tried, then refined.
_GRID_MARGIN = 6.0
_GRID_POINTS = 2401
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
            b_crit=Estimate.from_dict(data["b_crit"]),
            s_min=Estimate.from_dict(data["s_min"]),
            e_min=Estimate.from_dict(data["e_min"]),
            n_runs=int(data["n_runs"]),
            at_edge=bool(data["at_edge"]),
            warnings=list(data.get("warnings", [])),
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
    base = log_s[None, :] - log_steps_factor(grid[:, None], log_b[None, :])  # (G, n)
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
    # Row 0 is the full data, the rest the bootstrap replicates.
    return CriticalBatch(
        target_loss=target_loss,
        b_crit=Estimate.from_log_draws(log_crit[0], log_crit[1:], level),
        s_min=Estimate.from_log_draws(log_smin[0], log_smin[1:], level),
        e_min=Estimate.from_log_draws(log_emin[0], log_emin[1:], level),
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
            b_star=Estimate.from_dict(data["b_star"]),
            alpha_b=Estimate.from_dict(data["alpha_b"]),
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
    law = fit_power_law(
        {"L": losses},
        values,
        replicates=replicates,
        bootstrap=bootstrap,
        rng=np.random.default_rng(seed),
        level=level,
    )
    # log B = log B* - (1/alpha_B) log L, so alpha_B = -1/slope.
    return CriticalBatchCurve(
        b_star=law.coef,
        alpha_b=Estimate.from_samples(-1.0 / law.exponents["L"].value, -1.0 / law.draws[:, 1], level),
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
    return fit_power_law(inputs, values, bootstrap=bootstrap, rng=np.random.default_rng(seed), level=level)
