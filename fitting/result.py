"""Result objects of a fit: the Fit itself, predictions and estimates with intervals, and the
held-out extrapolation check. Results are data: an unconverged fit or failed replicates are
fields and warnings, never exceptions."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from fitting._validate import as_positive_array, level_in_unit_interval, same_length
from fitting.extrapolation import ErrorModel
from fitting.flops import training_compute
from fitting.laws import LOSS_LAWS, Law
from fitting.laws.base import Array
from fitting.located import located_counts


@dataclass(frozen=True)
class Estimate:
    """A value with a bootstrap percentile interval at `level` (scalars or arrays alike)."""

    value: Any
    lo: Any
    hi: Any
    level: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": _plain(self.value),
            "lo": _plain(self.lo),
            "hi": _plain(self.hi),
            "level": self.level,
        }

    @classmethod
    def from_samples(cls, value: Any, samples: Array, level: float, shape: tuple[int, ...] = ()) -> Estimate:
        """Point values with the percentile interval of their bootstrap samples (rows; NaN bounds when
        there are none), reshaped to the query's shape; plain floats for a scalar query."""
        value = np.asarray(value).reshape(shape)
        if samples.shape[0]:
            lo, hi = (bound.reshape(shape) for bound in percentile_interval(samples, level))
        else:
            lo = hi = np.full(shape, np.nan)
        if not shape:
            return cls(float(value), float(lo), float(hi), level)
        return cls(value, lo, hi, level)

    @classmethod
    def from_log_draws(cls, log_point: float, log_draws: Array, level: float) -> Estimate:
        """A positive quantity estimated on the log scale: exp of the point and of the percentile
        interval of the finite log draws (a replicate without a value is NaN and left out; none: NaN bounds)."""
        finite = log_draws[np.isfinite(log_draws)]
        if not finite.size:
            return cls(float(np.exp(log_point)), float("nan"), float("nan"), level)
        lo, hi = percentile_interval(finite, level)
        return cls(float(np.exp(log_point)), float(np.exp(lo)), float(np.exp(hi)), level)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Estimate:
        """Inverse of to_dict for a scalar estimate; JSON null (a NaN bound stored as null) back to NaN."""
        nan = float("nan")
        return cls(
            value=float(data["value"]),
            lo=nan if data["lo"] is None else float(data["lo"]),
            hi=nan if data["hi"] is None else float(data["hi"]),
            level=float(data["level"]),
        )


@dataclass(frozen=True)
class DirectionHoldout:
    """One direction of the extrapolation check: refit without every run whose input `axis` is at
    or above `threshold` (the largest model sizes, or the largest token counts), error on those."""

    axis: str  # the input held out along: "N", "D" (or the one input of a single-variable law)
    threshold: float  # runs with this input at or above it were held out
    n_heldout: int
    relative_error: float  # mean |predicted / actual - 1| over the held-out runs
    max_relative_error: float
    in_sample_relative_error: float  # same measure on the runs the refit saw

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Holdout:
    """Extrapolation check: refits without the largest runs along each input in turn (fitting.holdout);
    the summary fields combine the directions, `directions` keeps each."""

    n_heldout: int  # runs held out in at least one direction
    scale_threshold: float  # the smallest scale (N*D, or x) among the held-out runs
    relative_error: float  # mean over the directions of each one's mean |predicted / actual - 1|
    max_relative_error: float  # the largest over every direction
    in_sample_relative_error: float  # mean over the directions, on the runs each refit saw
    directions: dict[str, DirectionHoldout] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "directions"}
        out["directions"] = {axis: d.to_dict() for axis, d in self.directions.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Holdout:
        """Inverse of to_dict; a check stored before directions were recorded has none."""
        fields = {k: v for k, v in data.items() if k != "directions"}
        directions = {axis: DirectionHoldout(**d) for axis, d in (data.get("directions") or {}).items()}
        return cls(**fields, directions=directions)


def percentile_interval(samples: Array, level: float, axis: int = 0) -> tuple[Array, Array]:
    """Equal-tailed percentile interval of bootstrap samples.

    Numpy's default ("linear") percentile computed from one sort: the same numbers as
    np.percentile, several times faster on the few hundred draws a prediction uses.
    """
    ordered = np.sort(np.asarray(samples, dtype=float), axis=axis)
    count = ordered.shape[axis]
    bounds = []
    for quantile in (0.5 * (1.0 - level), 1.0 - 0.5 * (1.0 - level)):
        position = quantile * (count - 1)
        below = math.floor(position)
        above = min(below + 1, count - 1)
        weight = position - below
        low, high = ordered[(slice(None),) * axis + (below,)], ordered[(slice(None),) * axis + (above,)]
        bounds.append(low + (high - low) * weight)
    return bounds[0], bounds[1]


def parameter_intervals(draws: Array, names: tuple[str, ...], level: float) -> dict[str, tuple[float, float]]:
    """Percentile interval of each parameter (a column of draws), by name."""
    level = level_in_unit_interval(level)
    if draws.shape[0] == 0:
        raise ValueError("this fit has no bootstrap draws: refit with bootstrap > 0 to get intervals")
    lo, hi = percentile_interval(draws, level)
    return {name: (float(lo[i]), float(hi[i])) for i, name in enumerate(names)}


def _plain(value: Any) -> Any:
    """numpy scalars and arrays to JSON-friendly Python values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class LawEvaluator:
    """A fitted law's point estimate and bootstrap draws as one batch (row 0 the point, the rest the
    draws), in both parameterisations, with the law's compute-optimal closed form where it has one."""

    law: Law
    theta: Array  # (1 + n_ok, P) raw (log-space) parameters
    natural: Array  # (1 + n_ok, P) natural parameters (E, A, B, alpha, ...)
    optimal_split: tuple[Array, Array] | None  # law.optimal_split(natural): log G and a per row

    @classmethod
    def of(cls, law: Law, theta: Array, draws: Array) -> LawEvaluator:
        """The batch of a point estimate (raw) and its draws (natural), converted once, read-only."""
        thetas = np.vstack([theta[None, :], law.from_natural(draws)])
        natural = law.to_natural(thetas)
        split = law.optimal_split(natural)
        for array in (thetas, natural, *(split or ())):
            array.flags.writeable = False
        return cls(law, thetas, natural, split)

    def log_value(self, logx: Array) -> Array:
        """log L of every row at the log inputs (k, n): (1 + n_ok, n)."""
        return self.law.log_value(self.theta, logx)


@dataclass(frozen=True)
class Fit:
    """A loss law fitted to runs: point estimate, bootstrap draws, diagnostics and warnings."""

    law: str
    params: dict[str, float]
    theta: Array  # raw (log-space) parameters of the point estimate
    draws: Array  # (n_ok, P) natural parameters of the converged bootstrap replicates
    objective: float
    n_points: int
    converged: bool
    n_bootstrap: int
    n_failed_replicates: int
    delta: float
    seed: int
    holdout: Holdout | None
    input_ranges: dict[str, tuple[float, float]]
    variable: str | None = None  # for 'power': which input x is (N, D or C)
    # For "auto": the score of every form tried, its mean held-out error over the directions all
    # forms could hold out (None: too few runs to hold any out); candidate_errors: each per direction.
    candidates: dict[str, float | None] | None = None
    candidate_errors: dict[str, dict[str, float]] | None = None
    # How many independent groups (runs) the bootstrap resampled; None when rows were not grouped.
    n_groups: int | None = None
    warnings: list[str] = field(default_factory=list)
    # Run-to-run scatter and the growth of the error beyond the fitted range (fitting.extrapolation);
    # None for a fit stored before it was estimated: its prediction interval is the parameter interval.
    error_model: ErrorModel | None = None

    @cached_property
    def evaluator(self) -> LawEvaluator:
        """The point estimate and the draws as one batch, converted once: predictions are hot."""
        return LawEvaluator.of(self.law_spec, self.theta, self.draws)

    @property
    def law_spec(self) -> Law:
        return LOSS_LAWS[self.law]

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.law_spec.param_names

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.variable,) if self.variable else self.law_spec.inputs

    def ci(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Percentile interval of every parameter from the bootstrap draws."""
        return parameter_intervals(self.draws, self.param_names, level)

    def _log_inputs(self, inputs: dict[str, Any]) -> tuple[Array, tuple[int, ...]]:
        names = self.inputs
        if inputs.keys() == set(names) and all(
            type(inputs[k]) is float and math.isfinite(inputs[k]) and inputs[k] > 0 for k in names
        ):
            # One valid query of plain floats (the service's case): no array plumbing. Anything
            # else takes the general path below, with its checks and messages.
            return np.log(np.array([[inputs[name]] for name in names])), ()
        unknown = set(inputs) - set(names) - ({"x"} if self.variable else set())
        if unknown:
            raise ValueError(f"predict got {sorted(unknown)}; law {self.law!r} takes {', '.join(names)}")
        values = {}
        for name in names:
            given = inputs.get(name, inputs.get("x") if self.variable else None)
            if given is None:
                raise ValueError(f"predict needs {name}= (law {self.law!r} takes {', '.join(names)})")
            values[name] = np.asarray(given, dtype=float)
        shape = np.broadcast_shapes(*(v.shape for v in values.values()))
        flat = {k: as_positive_array(k, np.broadcast_to(v, shape).ravel()) for k, v in values.items()}
        same_length(flat)
        return np.log(np.stack([flat[name] for name in names])), shape

    def predict(self, level: float = 0.95, interval: str = "prediction", **inputs: Any) -> Estimate:
        """Predicted loss at the given inputs (scalars or arrays) with an interval at `level`.

        interval="prediction" (the default): where a new run's final loss will land, the bootstrap's
        parameter interval widened in log space, in quadrature, by run-to-run scatter and by the
        extrapolation error measured on the study's own nested refits (fitting.extrapolation); an
        infinite bound when the extrapolation error could not be measured and the query lies beyond
        the fitted range. interval="parameter": the bootstrap interval of the law itself.
        """
        if interval not in ("prediction", "parameter"):
            raise ValueError(f"interval must be 'prediction' or 'parameter', got {interval!r}")
        prediction, parameter = self.predict_both(level, **inputs)
        return prediction if interval == "prediction" else parameter

    def predict_both(self, level: float = 0.95, **inputs: Any) -> tuple[Estimate, Estimate]:
        """(prediction, parameter) intervals of the predicted loss from one evaluation of the law."""
        level = level_in_unit_interval(level)
        logx, shape = self._log_inputs(inputs)
        # Row 0 is the point estimate, the rest the bootstrap draws: one batched evaluation.
        predictions = np.exp(self.evaluator.log_value(logx))
        estimate = Estimate.from_samples(predictions[0], predictions[1:], level, shape)
        if self.error_model is None:
            return estimate, estimate
        width = self.error_model.half_width(level, logx).reshape(shape)
        log_value = np.log(np.asarray(estimate.value, dtype=float))
        # No bootstrap draws: the parameter part is unknown, taken as 0 (the warning says so).
        below = np.nan_to_num(log_value - np.log(np.asarray(estimate.lo, dtype=float)))
        above = np.nan_to_num(np.log(np.asarray(estimate.hi, dtype=float)) - log_value)
        lo = np.exp(log_value - np.hypot(below, width))
        hi = np.exp(log_value + np.hypot(above, width))
        if not shape:
            return Estimate(estimate.value, float(lo), float(hi), level), estimate
        return Estimate(estimate.value, lo, hi, level), estimate

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, draws included, so a stored fit can predict without refitting."""
        return {
            "kind": "loss",
            "law": self.law,
            "params": dict(self.params),
            "ci95": {k: list(v) for k, v in self.ci(0.95).items()} if self.draws.shape[0] else None,
            "objective": self.objective,
            "n_points": self.n_points,
            "warnings": list(self.warnings),
            "converged": self.converged,
            "theta": self.theta.tolist(),
            "draws": self.draws.tolist(),
            "n_bootstrap": self.n_bootstrap,
            "n_failed_replicates": self.n_failed_replicates,
            "delta": self.delta,
            "seed": self.seed,
            "holdout": self.holdout.to_dict() if self.holdout else None,
            "input_ranges": {k: list(v) for k, v in self.input_ranges.items()},
            "variable": self.variable,
            "candidates": self.candidates,
            "candidate_errors": self.candidate_errors,
            "n_groups": self.n_groups,
            "error_model": self.error_model.to_dict() if self.error_model else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fit:
        """Inverse of to_dict."""
        law = LOSS_LAWS[data["law"]]
        draws = np.asarray(data["draws"], dtype=float).reshape(-1, law.n_params)
        return cls(
            law=data["law"],
            params={k: float(v) for k, v in data["params"].items()},
            theta=np.asarray(data["theta"], dtype=float),
            draws=draws,
            objective=float(data["objective"]),
            n_points=int(data["n_points"]),
            converged=bool(data["converged"]),
            n_bootstrap=int(data["n_bootstrap"]),
            n_failed_replicates=int(data["n_failed_replicates"]),
            delta=float(data["delta"]),
            seed=int(data["seed"]),
            holdout=Holdout.from_dict(data["holdout"]) if data.get("holdout") else None,
            input_ranges={k: (float(v[0]), float(v[1])) for k, v in data["input_ranges"].items()},
            variable=data.get("variable"),
            candidates=data.get("candidates"),
            candidate_errors=data.get("candidate_errors"),
            n_groups=data.get("n_groups"),
            error_model=ErrorModel.from_dict(data["error_model"]) if data.get("error_model") else None,
            warnings=list(data.get("warnings", [])),
        )


@dataclass(frozen=True)
class SweepOptimum:
    """The best learning rate and/or batch size of one (N, D) sweep, with intervals.

    status: "found" (interior optimum), "edge" (the best runs sit at the edge of the swept range, so the
    optimum lies beyond it), "not_convex" (the loss is not bowl-shaped near the best runs) or
    "too_few_runs". Only "found" optima enter the power laws. located_by: how the optimum was
    located, a key of fitting.located.LOCATED_BY ("quadratic" or "cubic" bowl, the small-sweep rule's
    "vertex" or "centre", the Step Law "band"); "" when it was not located.
    """

    N: float
    D: float
    C: float
    n_runs: int
    best_loss: float
    status: str
    lr: Estimate | None = None
    batch: Estimate | None = None
    located_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("N", "D", "C", "n_runs", "best_loss", "status", "located_by")}
        out["lr"] = self.lr.to_dict() if self.lr else None
        out["batch"] = self.batch.to_dict() if self.batch else None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepOptimum:
        """Inverse of to_dict (fits stored before `located_by` existed read as without it)."""
        estimates = {k: Estimate(**data[k]) if data.get(k) else None for k in ("lr", "batch")}
        return cls(
            **{k: data[k] for k in ("N", "D", "C", "n_runs", "best_loss", "status")},
            **estimates,
            located_by=data.get("located_by", ""),
        )


@dataclass(frozen=True)
class OptimumFit:
    """A power law of a hyperparameter optimum (law "lr_opt" or "batch_opt") fitted to sweep optima.

    Sibling of Fit: params, bootstrap draws (over groups, each replicate also redrawing every
    group's optimum), ci(), predict() and the stored form. form: "steplaw" (Li et al. 2025) or
    "deepseek" (Bi et al. 2024); candidates holds every form's leave-one-scale-out error under "auto".
    """

    law: str
    form: str
    params: dict[str, float]
    draws: Array  # (n_ok, P) natural parameters (a, exponents...) of the converged replicates
    inputs: tuple[str, ...]
    optima: tuple[SweepOptimum, ...]
    method: str
    n_bootstrap: int
    n_failed_replicates: int
    seed: int
    loso_error: float | None  # mean |log predicted / log observed| holding out one scale at a time
    input_ranges: dict[str, tuple[float, float]]
    candidates: dict[str, float] | None = None
    warnings: list[str] = field(default_factory=list)
    window: float | None = None  # method "quadratic": the log-loss window each sweep's bowl was fitted in

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.params)

    @property
    def located_by(self) -> dict[str, int]:
        """The sweep optima the law rests on, counted by how each was located (located_counts)."""
        return located_counts(self.optima)

    def ci(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Percentile interval of every parameter from the bootstrap draws."""
        return parameter_intervals(self.draws, self.param_names, level)

    def _log_inputs(self, N: Any, D: Any, C: Any) -> tuple[Array, tuple[int, ...]]:
        given = {k: v for k, v in {"N": N, "D": D, "C": C}.items() if v is not None}
        if self.inputs == ("C",) and "C" not in given:
            if "N" not in given or "D" not in given:
                raise ValueError(
                    f"predict needs C= (compute in FLOPs), or N= and D= for C = 6ND ({self.form} form)"
                )
            given["C"] = training_compute(given["N"], given["D"])
        missing = [name for name in self.inputs if name not in given]
        if missing:
            raise ValueError(
                f"predict needs {'= and '.join(missing)}= ({self.law} {self.form} takes {', '.join(self.inputs)})"
            )
        values = [np.asarray(given[name], dtype=float) for name in self.inputs]
        shape = np.broadcast_shapes(*(v.shape for v in values))
        flat = [
            as_positive_array(n, np.broadcast_to(v, shape).ravel())
            for n, v in zip(self.inputs, values, strict=True)
        ]
        return np.log(np.stack(flat)), shape

    def predict(self, level: float = 0.95, *, N: Any = None, D: Any = None, C: Any = None) -> Estimate:
        """Predicted optimum (LR, or batch size in tokens) at the given scale, with a bootstrap interval.

        N, D: parameters and tokens; the DeepSeek form uses C (FLOPs), C = 6ND unless given.
        """
        level = level_in_unit_interval(level)
        logx, shape = self._log_inputs(N, D, C)
        point = np.array([self.params[name] for name in self.param_names])

        def log_value(params: Array) -> Array:
            # A degenerate draw's a can underflow to 0 (OptimumForm.to_natural): its log is -inf and
            # its prediction 0, which lands in the interval's low tail where it belongs.
            with np.errstate(divide="ignore"):
                return np.log(params[:, :1]) + params[:, 1:] @ logx

        value = np.exp(log_value(point[None, :])[0])
        samples = np.exp(log_value(self.draws)) if self.draws.shape[0] else self.draws
        return Estimate.from_samples(value, samples, level, shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, draws and per-sweep optima included."""
        return {
            "kind": "optimum",
            "law": self.law,
            "form": self.form,
            "params": dict(self.params),
            "ci95": {k: list(v) for k, v in self.ci(0.95).items()} if self.draws.shape[0] else None,
            "draws": self.draws.tolist(),
            "inputs": list(self.inputs),
            "optima": [o.to_dict() for o in self.optima],
            "method": self.method,
            "window": self.window,
            "n_bootstrap": self.n_bootstrap,
            "n_failed_replicates": self.n_failed_replicates,
            "seed": self.seed,
            "loso_error": self.loso_error,
            "input_ranges": {k: list(v) for k, v in self.input_ranges.items()},
            "candidates": self.candidates,
            "located_by": self.located_by,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OptimumFit:
        """Inverse of to_dict."""
        params = {k: float(v) for k, v in data["params"].items()}
        return cls(
            law=data["law"],
            form=data["form"],
            params=params,
            draws=np.asarray(data["draws"], dtype=float).reshape(-1, len(params)),
            inputs=tuple(data["inputs"]),
            optima=tuple(SweepOptimum.from_dict(o) for o in data["optima"]),
            method=data["method"],
            window=data.get("window"),  # absent from fits stored before it was recorded
            n_bootstrap=int(data["n_bootstrap"]),
            n_failed_replicates=int(data["n_failed_replicates"]),
            seed=int(data["seed"]),
            loso_error=data.get("loso_error"),
            input_ranges={k: (float(v[0]), float(v[1])) for k, v in data["input_ranges"].items()},
            candidates=data.get("candidates"),
            warnings=list(data.get("warnings", [])),
        )
