"""The compute-optimal frontier measured from the proxies themselves (Hoffmann et al. 2022,
approaches 1 and 2): N_opt = k_N C^a and D_opt = k_D C^b with bootstrap intervals, to set beside
the parametric fit (approach 3, fitting.optimal_allocation) and see whether the three agree.

Approach 1: the lower envelope of all loss curves against FLOPs; the run on the envelope at each
FLOP count gives N_opt(C) and D_opt(C). Approach 2: per FLOP budget (an IsoFLOP profile) a
quadratic of log loss in log N near the best run; its minimum is N_opt(C), and its value there the
loss at the optimum, through which L_opt(C) is fitted (fitting.frontier_loss). Budgets of 3-5 runs
are located by the small-sweep rule (fitting.bowl); a table of tokens and budgets without N gives
N = C/6D.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from fitting import _validate as check
from fitting.bootstrap import resample_weights
from fitting.bowl import BOWL_MIN_VALUES, bowl_fit_runs, bowl_optima
from fitting.flops import training_compute
from fitting.frontier_loss import LossFrontier, fit_loss_frontier
from fitting.laws.base import Array
from fitting.located import SMALL_SWEEP_RULES, located_counts, located_summary
from fitting.log_linear import fit_log_linear
from fitting.objective import DEFAULT_DELTA
from fitting.result import Estimate

# IsoFLOP profiles: the bowl is fitted to runs within this log-loss distance of the best one,
# widened to the best six (the quadratic's three parameters need room for the bootstrap).
DEFAULT_ISOFLOP_WINDOW = 0.02
# N_opt = k C^a has two parameters: optima at 3 compute values at least (budgets, or envelope FLOPs).
MIN_BUDGETS = 3
# A frontier on fewer budget optima than this is flagged (as an optimum law on fewer sweeps is).
FEW_BUDGETS = 6
# The envelope compares curves: 3 model sizes at least, so that an intermediate one can win; a
# curve is interpolated between its points, so a run of one point covers no FLOPs.
MIN_CURVES = 3
MIN_POINTS_PER_CURVE = 2
_ENVELOPE_GRID = 250  # FLOP values on the envelope grid (Hoffmann et al. used 1,500 over a wider range)


@dataclass(frozen=True)
class BudgetOptimum:
    """One IsoFLOP profile: the loss-minimising N and D at a compute budget, or why there is none."""

    compute: float
    n_runs: int
    status: str  # "found", "edge" (best run at the smallest or largest N), "not_convex", "too_few_runs"
    n_params: Estimate | None = None
    tokens: Estimate | None = None
    loss: Estimate | None = None  # the loss at the optimum (the bowl's minimum)
    located_by: str = ""  # "quadratic", or for budgets of 3-5 runs "vertex" / "centre" (fitting.located)

    def to_dict(self) -> dict[str, Any]:
        return {
            "compute": self.compute,
            "n_runs": self.n_runs,
            "status": self.status,
            "located_by": self.located_by,
            **{k: getattr(self, k).to_dict() if getattr(self, k) else None for k in _BUDGET_ESTIMATES},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BudgetOptimum:
        """Inverse of to_dict (fits stored before `loss` and `located_by` existed read as without them;
        "bowl", the quadratic's name before the cubic bowl existed, reads as "quadratic")."""
        estimates = {k: Estimate(**data[k]) if data.get(k) else None for k in _BUDGET_ESTIMATES}
        located_by = data.get("located_by", "")
        return cls(
            compute=float(data["compute"]),
            n_runs=int(data["n_runs"]),
            status=data["status"],
            located_by="quadratic" if located_by == "bowl" else located_by,
            **estimates,
        )


_BUDGET_ESTIMATES = ("n_params", "tokens", "loss")


@dataclass(frozen=True)
class Frontier:
    """N_opt = coef_n C^exponent_n and D_opt = coef_d C^exponent_d, each with a bootstrap interval."""

    approach: int  # 1 (loss envelope) or 2 (IsoFLOP profiles), Hoffmann et al. 2022
    exponent_n: Estimate  # a
    exponent_d: Estimate  # b
    coef_n: Estimate
    coef_d: Estimate
    draws: Array  # (n_ok, 4): log coef_n, a, log coef_d, b
    compute_range: tuple[float, float]
    n_bootstrap: int
    n_failed_replicates: int
    seed: int
    optima: tuple[BudgetOptimum, ...] = ()  # approach 2: every budget, found or not
    warnings: list[str] = field(default_factory=list)
    loss_law: LossFrontier | None = None  # approach 2: L_opt(C) through the budgets' optimum losses

    @property
    def located_by(self) -> dict[str, int]:
        """Approach 2: the budget optima the frontier rests on, counted by how each was located."""
        return located_counts(self.optima)

    def predict_loss(self, compute: Any, level: float = 0.95) -> Estimate:
        """L_opt, the loss at the compute-optimal allocation, at `compute` FLOPs (approach 2 only)."""
        if self.loss_law is None:
            raise ValueError(
                "this frontier has no L_opt(C) law: only IsoFLOP profiles (approach 2) carry one"
            )
        return self.loss_law.predict(compute, level)

    def predict(self, compute: Any, level: float = 0.95) -> tuple[Estimate, Estimate]:
        """N_opt and D_opt at `compute` FLOPs (scalar or array), with bootstrap intervals."""
        level = check.level_in_unit_interval(level)
        scalar = np.ndim(compute) == 0
        log_c = np.log(check.as_positive_array("compute", compute))
        point = np.array(
            [
                np.log(self.coef_n.value),
                self.exponent_n.value,
                np.log(self.coef_d.value),
                self.exponent_d.value,
            ]
        )
        shape = () if scalar else log_c.shape
        out = []
        # A degenerate replicate (budgets whose optima barely move with C) can overflow: it reads as
        # inf, and the percentile interval says how wide that makes it.
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            for i in (0, 2):
                value = np.exp(point[i] + point[i + 1] * log_c)
                samples = np.exp(self.draws[:, i : i + 1] + self.draws[:, i + 1 : i + 2] * log_c)
                out.append(Estimate.from_samples(value, samples, level, shape))
        return out[0], out[1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, bootstrap draws included (from_dict restores it exactly)."""
        return {
            "kind": "frontier",
            "approach": self.approach,
            "exponent_n": self.exponent_n.to_dict(),
            "exponent_d": self.exponent_d.to_dict(),
            "coef_n": self.coef_n.to_dict(),
            "coef_d": self.coef_d.to_dict(),
            "compute_range": list(self.compute_range),
            "n_bootstrap": self.n_bootstrap,
            "n_failed_replicates": self.n_failed_replicates,
            "seed": self.seed,
            "optima": [o.to_dict() for o in self.optima],
            "located_by": self.located_by,
            "warnings": list(self.warnings),
            "draws": self.draws.tolist(),
            "loss_law": self.loss_law.to_dict() if self.loss_law is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Frontier:
        """Inverse of to_dict."""
        return cls(
            approach=int(data["approach"]),
            **{k: Estimate(**data[k]) for k in ("exponent_n", "exponent_d", "coef_n", "coef_d")},
            draws=np.asarray(data.get("draws", []), dtype=float).reshape(-1, 4),
            compute_range=(float(data["compute_range"][0]), float(data["compute_range"][1])),
            n_bootstrap=int(data["n_bootstrap"]),
            n_failed_replicates=int(data["n_failed_replicates"]),
            seed=int(data["seed"]),
            optima=tuple(BudgetOptimum.from_dict(o) for o in data.get("optima", [])),
            warnings=list(data.get("warnings", [])),
            loss_law=LossFrontier.from_dict(data["loss_law"]) if data.get("loss_law") else None,
        )


def frontier_power_laws(
    compute: Any,
    n_params: Any,
    tokens: Any,
    *,
    log_std: Any = None,
    replicates: tuple[Array, Array] | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    approach: int = 2,
    optima: tuple[BudgetOptimum, ...] = (),
) -> Frontier:
    """Power laws N_opt = k_N C^a, D_opt = k_D C^b by (weighted) least squares in log space,
    bootstrapping over budgets (Hoffmann et al. 2022, sec. 3.2; Porian et al. 2024, sec. 2).

    log_std: standard deviation of log N_opt per budget; weights 1/log_std^2 as Porian et al. do.
    replicates: (R, n) replicate log N_opt and log D_opt per budget, redrawn inside each replicate.
    """
    bootstrap = check.non_negative_int("bootstrap", bootstrap)
    seed = check.non_negative_int("seed", seed)
    level = check.level_in_unit_interval(level)
    arrays, n = check.positive_arrays(compute=compute, n_params=n_params, tokens=tokens, log_std=log_std)
    if np.unique(arrays["compute"]).size < MIN_BUDGETS:
        raise ValueError(
            f"the frontier needs optima at {MIN_BUDGETS} or more compute budgets, "
            f"got {np.unique(arrays['compute']).size}"
        )
    weight = 1.0 / arrays["log_std"] ** 2 if log_std is not None else np.ones(n)
    design = np.column_stack([np.ones(n), np.log(arrays["compute"])])
    targets = np.stack([np.log(arrays["n_params"]), np.log(arrays["tokens"])])
    fitted = fit_log_linear(
        design,
        targets,
        weight,
        bootstrap=bootstrap,
        rng=np.random.default_rng(seed),
        replicates=None if replicates is None else np.stack(replicates),
    )
    n_failed = fitted.n_failed
    warnings = []
    if n_failed:
        warnings.append(
            f"{n_failed} of {bootstrap} bootstrap replicates drew fewer than two budgets and are left out"
        )
    return Frontier(
        approach=approach,
        **_coefficients(fitted.point, fitted.draws, level),
        compute_range=(float(arrays["compute"].min()), float(arrays["compute"].max())),
        n_bootstrap=bootstrap,
        n_failed_replicates=n_failed,
        seed=seed,
        optima=optima,
        warnings=warnings,
    )


def isoflop_frontier(
    *,
    compute: Any,
    loss: Any,
    N: Any = None,
    D: Any = None,
    window: float = DEFAULT_ISOFLOP_WINDOW,
    weighted: bool = False,
    loss_form: str = "auto",
    bootstrap: int = 1000,
    seed: int = 0,
    delta: float = DEFAULT_DELTA,
    level: float = 0.95,
) -> Frontier:
    """Approach 2 (Hoffmann et al. 2022, sec. 3.2): per budget the minimum of a quadratic of log loss
    in log N, then N_opt ∝ C^a, D_opt ∝ C^b, and L_opt(C) through the loss at each optimum.

    compute: the budget of every run (runs with equal compute form one profile). N: parameters per
    run, D: tokens per run; give either or both (N = C/6D, D = C/6N for the one left out).
    Budgets of 3-5 runs, too few for a bowl with a bootstrap, are located by the small-sweep rule
    (fitting.bowl.small_sweep_optimum) and named in a warning. weighted: weight budgets by
    1/var(log N_opt) from their own bootstrap. loss_form: "auto", "power" or "offset" for L_opt(C)
    (fitting.frontier_loss).
    """
    bootstrap = check.non_negative_int("bootstrap", bootstrap)
    seed = check.non_negative_int("seed", seed)
    window = check.positive_float("window", window)
    delta = check.positive_float("delta", delta)
    if N is None and D is None:
        raise ValueError("isoflop_frontier needs N= (parameters) or D= (tokens) of every run, or both")
    arrays, _ = check.positive_arrays(compute=compute, N=N, loss=loss, D=D)
    budgets = np.unique(arrays["compute"])
    if budgets.size < MIN_BUDGETS:
        raise ValueError(
            f"compute takes {budgets.size} distinct value(s): IsoFLOP profiles need {MIN_BUDGETS} or more budgets"
        )
    # The size left out follows from C = 6ND (fitting.training_compute).
    sizes = arrays["N"] if N is not None else arrays["compute"] / training_compute(1.0, arrays["D"])
    log_n = np.log(sizes)
    log_d = np.log(arrays["D"] if D is not None else arrays["compute"] / training_compute(sizes, 1.0))
    log_loss = np.log(arrays["loss"])
    rng = np.random.default_rng(seed)
    members = [arrays["compute"] == budget for budget in budgets]
    profiled = [i for i, m in enumerate(members) if np.unique(log_n[m]).size >= BOWL_MIN_VALUES]
    bowls = dict(
        zip(
            profiled,
            bowl_optima(
                [(log_n[members[i]][None, :], log_loss[members[i]]) for i in profiled],
                window, bootstrap, delta, rng, small=True,
            ),
            strict=True,
        )
    )  # fmt: skip
    optima, rows = [], []
    for i, budget in enumerate(budgets):
        mine, count = members[i], int(members[i].sum())
        if i not in bowls:
            optima.append(BudgetOptimum(float(budget), count, "too_few_runs"))
            continue
        bowl = bowls[i]
        if bowl.log_point is None:
            optima.append(BudgetOptimum(float(budget), count, bowl.status))
            continue
        # log D at the optimum from log D = log C - log(6N), linear in log N within a budget.
        slope, intercept = np.polyfit(log_n[mine], log_d[mine], 1)
        log_n_draws = bowl.log_draws[:, 0]
        log_d_draws = intercept + slope * log_n_draws
        log_d_point = intercept + slope * bowl.log_point[0]
        n_estimate, d_estimate, loss_estimate = _budget_estimates(bowl, slope, intercept, level)
        optima.append(
            BudgetOptimum(
                float(budget), count, bowl.status, n_estimate, d_estimate, loss_estimate, bowl.located_by
            )
        )
        if bowl.status == "found":
            rows.append(
                (
                    budget,
                    bowl.log_point[0],
                    log_d_point,
                    log_n_draws,
                    log_d_draws,
                    bowl.log_loss,
                    bowl.log_loss_draws,
                )
            )
    if len(rows) < MIN_BUDGETS:
        raise ValueError(
            f"only {len(rows)} of {budgets.size} budgets have an interior optimum (the rest sit at the edge of the "
            "swept model sizes): add smaller and larger models to those IsoFLOP profiles"
        )
    compute_used = np.array([r[0] for r in rows])
    replicates = (
        (np.stack([r[3] for r in rows], axis=1), np.stack([r[4] for r in rows], axis=1))
        if bootstrap
        else None
    )
    log_std = None
    if weighted and bootstrap:
        log_std = np.array([max(np.nanstd(r[3]), 1e-3) for r in rows])
    frontier = frontier_power_laws(
        compute_used,
        np.exp([r[1] for r in rows]),
        np.exp([r[2] for r in rows]),
        log_std=log_std,
        replicates=replicates,
        bootstrap=bootstrap,
        seed=seed,
        level=level,
        approach=2,
        optima=tuple(optima),
    )
    # A generator of its own, so N_opt(C) and D_opt(C) draw what they drew before L_opt(C) existed.
    loss_law = fit_loss_frontier(
        compute_used,
        np.array([r[5] for r in rows]),
        replicates=np.stack([r[6] for r in rows], axis=1) if bootstrap else None,
        form=loss_form,
        bootstrap=bootstrap,
        rng=np.random.default_rng([seed, 1]),
        level=level,
    )
    frontier = replace(frontier, loss_law=loss_law)
    frontier.warnings.extend(_isoflop_warnings(optima, len(rows)))
    return frontier


def _budget_estimates(bowl: Any, slope: float, intercept: float, level: float) -> tuple[Estimate, ...]:
    """N_opt, D_opt and the loss at the optimum of one budget (log D = intercept + slope log N within
    it): bootstrap intervals for a bowl, the bracket between the best run's neighbours for a budget
    the small-sweep rule located (its loss: the minimum of the quadratic, or the best run's)."""
    log_d_point = intercept + slope * bowl.log_point[0]
    if bowl.log_bounds is None:
        return (
            Estimate.from_log_draws(bowl.log_point[0], bowl.log_draws[:, 0], level),
            Estimate.from_log_draws(log_d_point, intercept + slope * bowl.log_draws[:, 0], level),
            Estimate.from_log_draws(bowl.log_loss, bowl.log_loss_draws, level),
        )
    n_bounds = bowl.log_bounds[:, 0]
    d_bounds = np.sort(intercept + slope * n_bounds)
    loss = float(np.exp(bowl.log_loss))
    return (
        Estimate(float(np.exp(bowl.log_point[0])), *np.exp(n_bounds).tolist(), 1.0),
        Estimate(float(np.exp(log_d_point)), *np.exp(d_bounds).tolist(), 1.0),
        Estimate(loss, loss, loss, 1.0),
    )


def _isoflop_warnings(optima: list[BudgetOptimum], n_used: int) -> list[str]:
    """Budgets left out, budgets the small-sweep rule located, and a frontier on few budgets."""
    out = []
    skipped = [o for o in optima if o.status != "found"]
    if skipped:
        listed = ", ".join(f"{o.compute:.3g} ({o.status})" for o in skipped)
        out.append(f"{len(skipped)} budget(s) left out of the frontier: {listed}")
    small = [o for o in optima if o.located_by in SMALL_SWEEP_RULES]
    if small:
        listed = ", ".join(f"{o.compute:.3g} ({o.located_by})" for o in small)
        out.append(
            f"{len(small)} budget(s) had too few runs for a bowl with a bootstrap (fewer than "
            f"{bowl_fit_runs(1)}) and were located by the small-sweep rule (vertex of the parabola through "
            f"the best run and its two neighbours, which bound the interval): {listed}. "
            f"{located_summary(located_counts(optima), 'budget')}".strip()
        )
    if n_used < FEW_BUDGETS:
        out.append(
            f"the frontier rests on {n_used} budget optima (fewer than {FEW_BUDGETS}): its exponents and "
            "intervals are loosely determined; add budgets"
        )
    return out


def envelope_frontier(
    *,
    run: Any,
    N: Any,
    tokens: Any,
    loss: Any,
    compute: Any = None,
    bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Frontier:
    """Approach 1 (Hoffmann et al. 2022, sec. 3.1): on a log grid of FLOPs, the run whose loss curve
    is lowest there gives N_opt(C) and its tokens D_opt(C); then power laws in C.

    run: a run id per curve point; N: the run's parameters; tokens: tokens seen at the point;
    compute: FLOPs at the point (default 6 N tokens). Bootstrap resamples whole runs.
    """
    bootstrap = check.non_negative_int("bootstrap", bootstrap)
    seed = check.non_negative_int("seed", seed)
    level = check.level_in_unit_interval(level)
    arrays = {
        "N": check.as_positive_array("N", N),
        "tokens": check.as_positive_array("tokens", tokens),
        "loss": check.as_positive_array("loss", loss),
    }
    if compute is not None:
        arrays["compute"] = check.as_positive_array("compute", compute)
    run_ids = np.asarray(run)
    check.same_length({**arrays, "run": run_ids})
    flops = arrays["compute"] if "compute" in arrays else training_compute(arrays["N"], arrays["tokens"])
    names, run_index = np.unique(run_ids, return_inverse=True)
    curves = int(np.sum(np.bincount(run_index) >= MIN_POINTS_PER_CURVE))
    if curves < MIN_CURVES:
        raise ValueError(
            f"run has {curves} distinct curve(s) of {MIN_POINTS_PER_CURVE} or more points: the envelope needs "
            f"{MIN_CURVES} or more runs"
        )
    sizes = np.array([arrays["N"][run_index == r][0] for r in range(names.size)])
    grid = np.linspace(np.log(flops.min()), np.log(flops.max()), _ENVELOPE_GRID)
    log_loss = np.full((names.size, grid.size), np.inf)
    log_tokens = np.full((names.size, grid.size), np.nan)
    for r in range(names.size):
        mine = np.flatnonzero(run_index == r)
        order = mine[np.argsort(flops[mine])]
        x = np.log(flops[order])
        inside = (grid >= x[0]) & (grid <= x[-1])
        log_loss[r, inside] = np.interp(grid[inside], x, np.log(arrays["loss"][order]))
        log_tokens[r, inside] = np.interp(grid[inside], x, np.log(arrays["tokens"][order]))
    envelope = _envelope_rows(log_loss, sizes, np.ones(names.size, dtype=bool))
    if envelope.sum() < MIN_BUDGETS:
        raise ValueError(
            f"the loss envelope has fewer than {MIN_BUDGETS} FLOP values where an intermediate model size wins: "
            "add runs of more model sizes whose curves overlap in FLOPs"
        )
    winner = np.argmin(log_loss, axis=0)
    columns = np.flatnonzero(envelope)
    point_n = sizes[winner[columns]]
    point_d = np.exp(log_tokens[winner[columns], columns])
    rng = np.random.default_rng(seed)
    draws = np.empty((0, 4))
    n_failed = 0
    if bootstrap:
        counts = resample_weights(names.size, bootstrap, rng)
        fitted = np.full((bootstrap, 4), np.nan)
        for i in range(bootstrap):
            present = counts[i] > 0
            masked = np.where(present[:, None], log_loss, np.inf)
            cols = np.flatnonzero(_envelope_rows(masked, sizes, present))
            if np.unique(sizes[np.argmin(masked[:, cols], axis=0)]).size < 2:
                continue
            win = np.argmin(masked[:, cols], axis=0)
            design = np.column_stack([np.ones(cols.size), grid[cols]])
            for j, values in enumerate((np.log(sizes[win]), log_tokens[win, cols])):
                fitted[i, 2 * j : 2 * j + 2] = np.linalg.lstsq(design, values, rcond=None)[0]
        ok = np.all(np.isfinite(fitted), axis=1)
        draws, n_failed = fitted[ok], int(np.sum(~ok))
    frontier = frontier_power_laws(
        np.exp(grid[columns]), point_n, point_d, bootstrap=0, level=level, approach=1
    )
    point = np.array(
        [
            np.log(frontier.coef_n.value),
            frontier.exponent_n.value,
            np.log(frontier.coef_d.value),
            frontier.exponent_d.value,
        ]
    )

    warnings = []
    if n_failed:
        warnings.append(
            f"{n_failed} of {bootstrap} bootstrap replicates left fewer than two model sizes on the envelope"
        )
    return Frontier(
        approach=1,
        **_coefficients(point, draws, level),
        compute_range=(float(np.exp(grid[columns].min())), float(np.exp(grid[columns].max()))),
        n_bootstrap=bootstrap,
        n_failed_replicates=n_failed,
        seed=seed,
        warnings=warnings,
    )


def _coefficients(point: Array, draws: Array, level: float) -> dict[str, Any]:
    """The Frontier fields of (log coef_n, a, log coef_d, b) and their replicates (n_ok, 4)."""
    return {
        "coef_n": Estimate.from_log_draws(point[0], draws[:, 0], level),
        "exponent_n": Estimate.from_samples(point[1], draws[:, 1], level),
        "coef_d": Estimate.from_log_draws(point[2], draws[:, 2], level),
        "exponent_d": Estimate.from_samples(point[3], draws[:, 3], level),
        "draws": draws,
    }


def _envelope_rows(log_loss: Array, sizes: Array, present: Array) -> Array:
    """FLOP columns where the lowest curve is neither the smallest nor the largest model covering
    that FLOP count: there the envelope's N is an interior optimum, not a limit of the sizes tried."""
    covered = np.isfinite(log_loss) & present[:, None]
    n_covering = covered.sum(axis=0)
    winner_size = sizes[np.argmin(log_loss, axis=0)]
    smallest = np.min(np.where(covered, sizes[:, None], np.inf), axis=0)
    largest = np.max(np.where(covered, sizes[:, None], -np.inf), axis=0)
    return (n_covering >= MIN_CURVES) & (winner_size > smallest) & (winner_size < largest)
