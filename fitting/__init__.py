"""hyperlaw.fitting: scaling laws fitted on numpy arrays, with honest bootstrap intervals.

Public API:
    fit(law, *, loss, N=, D=, C=, x=, bootstrap=1000, seed=0, delta=1e-3) -> Fit
        law: "chinchilla", "chinchilla_equal", "kaplan", "power" or "auto".
    Fit: .law .params .ci(level) .draws .objective .predict(level=, N=, D=) .holdout .warnings
         .to_dict() / Fit.from_dict()
    fit("lr_opt" | "batch_opt", *, loss, N, D, lr=, batch=, C=, form="auto", method="quadratic",
        bootstrap=1000, seed=0) -> OptimumFit: optima of (N, D) sweeps, then Step Law
        (LR = a N^b D^c, B = a D^c) or DeepSeek (a C^b) power laws; "auto" by leave-one-scale-out.
    OptimumFit: .law .form .params .ci(level) .draws .optima .predict(level=, N=, D=, C=) .warnings
         .to_dict() / OptimumFit.from_dict()
    sweep_optima(*, loss, N, D, lr=, batch=, ...) -> list[SweepOptimum]: each sweep's optimum alone.
    optimal_allocation(fit, compute, flops_per_token=None, level=0.95) -> Allocation
    envelope_frontier(*, run, N, tokens, loss) / isoflop_frontier(*, compute, N, loss) -> Frontier:
        Hoffmann et al. 2022 approaches 1 and 2, N_opt = k C^a, D_opt = k' C^b with intervals.
    steps_examples_tradeoff(batch, steps) -> CriticalBatch (McCandlish et al. 2018);
    critical_batch_curve(*, batch, steps, target_loss) -> CriticalBatchCurve (Kaplan B*/L^(1/alpha_B));
        .b_crit(loss) .to_dict() / CriticalBatchCurve.from_dict();
    steps_to_target(steps, loss, target_loss, window=) / shared_targets(curves) / smooth_loss(loss, window):
        the critical-batch inputs from loss curves;
    critical_batch_scaling(*, b_crit, D=, N=) -> PowerLaw (Zhang et al. 2024);
    fit_step_law(*, N, steps, batch, loss, b_star, alpha_b) -> KaplanStepLaw (Kaplan L(N, S_min)).
    load_fit(dict) -> Fit | OptimumFit | CriticalBatchCurve | Frontier: any stored to_dict()
        restored, by its "kind" ("loss", "optimum", "critical_batch", "frontier").
    minimum(law, form=None) -> Minimum: the least data (runs, groups, runs and values per group)
        that law accepts, from the fitting functions' own checks.
    training_compute(n_params, tokens): C = 6ND training FLOPs (Kaplan et al. 2020).
    Estimate: value, lo, hi at a level.
    LOSS_LAWS: the law definitions by name.

Pure numerics: imports numpy and scipy only.
"""

from fitting.allocation import Allocation, optimal_allocation
from fitting.batch_size import (
    CriticalBatch,
    CriticalBatchCurve,
    critical_batch_curve,
    critical_batch_scaling,
    steps_examples_tradeoff,
)
from fitting.curves import shared_targets, smooth_loss, steps_to_target
from fitting.entry import fit, known_laws
from fitting.flops import training_compute
from fitting.frontier import BudgetOptimum, Frontier, envelope_frontier, frontier_power_laws, isoflop_frontier
from fitting.laws import LOSS_LAWS
from fitting.log_linear import PowerLaw
from fitting.loss_at_steps import KaplanStepLaw, fit_step_law
from fitting.minimums import Minimum, minimum
from fitting.optimum import HPARAM_LAWS, sweep_optima
from fitting.result import Estimate, Fit, Holdout, OptimumFit, SweepOptimum
from fitting.storage import load_fit

__all__ = [
    "HPARAM_LAWS",
    "LOSS_LAWS",
    "Allocation",
    "BudgetOptimum",
    "CriticalBatch",
    "CriticalBatchCurve",
    "Estimate",
    "Fit",
    "Frontier",
    "Holdout",
    "Minimum",
    "OptimumFit",
    "PowerLaw",
    "KaplanStepLaw",
    "SweepOptimum",
    "critical_batch_curve",
    "critical_batch_scaling",
    "envelope_frontier",
    "fit",
    "fit_step_law",
    "frontier_power_laws",
    "isoflop_frontier",
    "known_laws",
    "load_fit",
    "minimum",
    "optimal_allocation",
    "shared_targets",
    "smooth_loss",
    "steps_examples_tradeoff",
    "steps_to_target",
    "sweep_optima",
    "training_compute",
]
