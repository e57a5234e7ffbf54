"""Power laws y = a prod_k x_k^e_k fitted by (weighted) least squares in log space,
log y = log a + sum_k e_k log x_k, with a bootstrap over points or groups of points: the one fit
behind PowerLaw (B_crit laws), OptimumFit (LR and batch-size optima) and Frontier (N_opt, D_opt).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fitting import _validate as check
from fitting.bootstrap import resample_weights
from fitting.laws.base import Array
from fitting.result import Estimate


def weighted_least_squares(design: Array, values: Array, weights: Array) -> Array:
    """Weighted least squares per replicate: design (n, P), values and weights (R, n) -> (R, P).

    Replicates whose weighted design is rank-deficient come back as NaN rows."""
    gram = np.einsum("np,rn,nq->rpq", design, weights, design)
    moment = np.einsum("np,rn->rp", design, weights * values)
    rank = np.linalg.matrix_rank(gram, hermitian=True)
    ok = rank == design.shape[1]
    out = np.full((values.shape[0], design.shape[1]), np.nan)
    if np.any(ok):
        out[ok] = np.linalg.solve(gram[ok], moment[ok][..., None])[..., 0]
    return out


@dataclass(frozen=True)
class LogLinearFit:
    """Coefficients of one or more log-linear fits sharing a design, and their bootstrap replicates."""

    point: Array  # (T * P,): each target's coefficients (intercept log a, then exponents), in turn
    draws: Array  # (n_ok, T * P) of the replicates every target could be fitted in
    n_failed: int  # replicates left out: a resample too narrow to determine the coefficients


def fit_log_linear(
    design: Array,
    log_values: Array,
    weight: Array | None = None,
    *,
    bootstrap: int = 0,
    rng: np.random.Generator | None = None,
    replicates: Array | None = None,
    groups: Array | None = None,
) -> LogLinearFit:
    """Least squares of log values on a design (n, P), then `bootstrap` resampled refits.

    log_values: (n,) or (T, n), targets that share the design and every resample. weight: (n,)
    per-point weights (default 1). replicates: (R', n) or (T, R', n), each replicate's own value of
    every point (NaN: that point sits the replicate out), so the noise of each point reaches the
    interval; default the values themselves. groups: (n,) group index 0..G-1 of every point, every
    group present: whole groups are resampled rather than points.
    """
    targets = np.atleast_2d(log_values)
    n = design.shape[0]
    weight = np.ones(n) if weight is None else weight
    point = np.concatenate([weighted_least_squares(design, t[None, :], weight[None, :])[0] for t in targets])
    if not bootstrap:
        return LogLinearFit(point, np.empty((0, point.size)), 0)
    assert rng is not None, "a bootstrap needs its generator"
    if groups is None:
        counts = resample_weights(n, bootstrap, rng)
    else:
        counts = resample_weights(int(groups.max()) + 1, bootstrap, rng)[:, groups]
    counts = counts * weight[None, :]
    if replicates is None:
        values = [np.broadcast_to(t, (bootstrap, n)) for t in targets]
    else:
        drawn = np.asarray(replicates).reshape(targets.shape[0], -1, n)[:, :bootstrap]
        counts = np.where(np.all(np.isfinite(drawn), axis=0), counts, 0.0)
        values = [np.nan_to_num(d) for d in drawn]
    fitted = np.concatenate([weighted_least_squares(design, v, counts) for v in values], axis=1)
    ok = np.all(np.isfinite(fitted), axis=1)
    return LogLinearFit(point, fitted[ok], int(np.sum(~ok)))


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
        return Estimate.from_log_draws(point, self.draws[:, 0] + self.draws[:, 1:] @ logx, level)

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
            coef=Estimate.from_dict(data["coef"]),
            exponents={k: Estimate.from_dict(v) for k, v in data["exponents"].items()},
            draws=np.asarray(data.get("draws", []), dtype=float).reshape(-1, 1 + len(inputs)),
            n_points=int(data["n_points"]),
            warnings=list(data.get("warnings", [])),
        )


def fit_power_law(
    inputs: dict[str, Array],
    values: Array,
    *,
    replicates: Array | None = None,
    bootstrap: int = 0,
    rng: np.random.Generator | None = None,
    level: float = 0.95,
) -> PowerLaw:
    """y = coef prod_k x_k^e_k by least squares in log space; bootstrap over points, each replicate
    also redrawing every point's own replicate value when `replicates` (R, n) of log y is given."""
    n = values.size
    design = np.column_stack([np.ones(n), *[np.log(v) for v in inputs.values()]])
    fitted = fit_log_linear(design, np.log(values), bootstrap=bootstrap, rng=rng, replicates=replicates)
    point, draws = fitted.point, fitted.draws
    warnings = []
    if fitted.n_failed:
        warnings.append(f"{fitted.n_failed} of {bootstrap} replicates could not be fitted and are left out")
    return PowerLaw(
        inputs=tuple(inputs),
        coef=Estimate.from_log_draws(point[0], draws[:, 0], level),
        exponents={
            k: Estimate.from_samples(point[i + 1], draws[:, i + 1], level) for i, k in enumerate(inputs)
        },
        draws=draws,
        n_points=n,
        warnings=warnings,
    )
