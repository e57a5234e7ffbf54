"""Loss after S steps at batch size B: Kaplan et al. 2020's L(N, S_min) fitted to curve points with
a given B_crit(L), where S_min = S / (1 + B_crit(L)/B) is the steps the run would need at a batch
far below the critical one (eqs. 1.6, 5.1, 5.4); Huber on log loss, multi-start and a bootstrap
over points, like the loss laws."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fitting import _validate as check
from fitting.bootstrap import bootstrap_fit
from fitting.laws.base import Array
from fitting.laws.critical_batch import b_crit_at_loss, min_steps
from fitting.laws.kaplan_steps import KAPLAN_STEPS
from fitting.objective import DEFAULT_DELTA
from fitting.result import Estimate, parameter_intervals
from fitting.search import global_search

_FIXED_POINT_ITERATIONS = 60


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
        return Estimate.from_samples(loss[0], loss[1:], level)

    def _solve(self, thetas: Array, n_params: float, steps: float, batch: float) -> Array:
        log_loss = np.zeros(thetas.shape[0])
        for _ in range(_FIXED_POINT_ITERATIONS):
            b_crit = b_crit_at_loss(self.b_star, self.alpha_b, np.exp(log_loss))
            s_min = min_steps(steps, batch, b_crit)
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
    b_crit = b_crit_at_loss(b_star, alpha_b, arrays["loss"])
    s_min = min_steps(arrays["steps"], arrays["batch"], b_crit)
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
    ci95 = parameter_intervals(draws, names, 0.95) if draws.shape[0] else None
    return KaplanStepLaw(
        params={k: float(natural[i]) for i, k in enumerate(names)},
        ci95=ci95,
        theta=search.theta,
        draws=draws,
        b_star=b_star,
        alpha_b=alpha_b,
        warnings=warnings,
    )
