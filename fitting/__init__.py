"""hyperlaw.fitting: scaling laws fitted on numpy arrays, with honest bootstrap intervals.

Public API (everything below is importable from `fitting`):
    fit(law, *, loss, N=, D=, C=, x=, bootstrap=1000, seed=0, delta=1e-3, group=None) -> Fit
        law: "chinchilla", "chinchilla_equal", "kaplan", "power" or "auto" (known_laws()); "auto"
        picks the form that extrapolates best to the largest model sizes and token counts.
        group: a run id per row (checkpoints of one run): the bootstrap resamples whole runs.
    Fit: .law .params .ci(level) .draws .objective .predict(level=, interval=, N=, D=) .holdout .warnings
         .error_model; interval "prediction" (default: where a new run's loss lands, extrapolation
         error included) or "parameter" (the bootstrap interval of the law alone); .holdout.directions
         the error extrapolating to the largest N and to the largest D; .candidates and
         .candidate_errors every form's score and per-direction errors under "auto"; .n_groups
        .evaluator (point and draws as one read-only batch) .to_dict() / Fit.from_dict()
    fit("lr_opt" | "batch_opt", *, loss, N, D, lr=, batch=, C=, form="auto", method="quadratic",
        bootstrap=1000, seed=0) -> OptimumFit: optima of (N, D) sweeps, then Step Law
        (LR = a N^b D^c, B = a D^c) or DeepSeek (a C^b) power laws; "auto" by leave-one-scale-out.
    OptimumFit: .law .form .params .ci(level) .draws .optima .predict(level=, N=, D=, C=) .warnings
        .to_dict() / OptimumFit.from_dict()
    sweep_optima(*, loss, N, D, lr=, batch=, ...) -> list[SweepOptimum]: each sweep's optimum alone.
    optimal_allocation(fit, compute, flops_per_token=None, level=0.95) -> Allocation
    envelope_frontier(*, run, N, tokens, loss) / isoflop_frontier(*, compute, N, loss) -> Frontier,
        frontier_power_laws(compute, n_params, tokens) -> Frontier: Hoffmann et al. 2022
        approaches 1 and 2, N_opt = k C^a, D_opt = k' C^b with intervals; BudgetOptimum per budget.
    steps_examples_tradeoff(batch, steps) -> CriticalBatch (McCandlish et al. 2018);
    critical_batch_curve(*, batch, steps, target_loss) -> CriticalBatchCurve (Kaplan B*/L^(1/alpha_B));
        .b_crit(loss) .to_dict() / CriticalBatchCurve.from_dict();
    critical_batch_scaling(*, b_crit, D=, N=) -> PowerLaw (Zhang et al. 2024);
    steps_to_target(steps, loss, target_loss, window=) / shared_targets(curves) / smooth_loss(loss, window):
        the critical-batch inputs from loss curves;
    fit_step_law(*, N, steps, batch, loss, b_star, alpha_b) -> KaplanStepLaw (Kaplan L(N, S_min)).
    load_fit(dict) -> Fit | OptimumFit | CriticalBatchCurve | Frontier: any stored to_dict()
        restored, by its "kind" ("loss", "optimum", "critical_batch", "frontier").
    minimum(law, form=None) -> Minimum: the least data (runs, groups, runs and values per group)
        each law accepts, read from the fitting functions' own checks.
    training_compute(n_params, tokens): C = 6ND training FLOPs (Kaplan et al. 2020).
    transfer_lr(lr_opt, batch_opt, batch, optimizer="adam", b_crit=None) -> TransferredLR: the LR at
        another batch size (Adam: square-root rule, SGD: linear), flagged above the critical batch.
    Estimate: value, lo, hi at a level (.from_samples, .from_log_draws); Holdout: the extrapolation check,
        DirectionHoldout: one direction of it (the largest N, or the largest D, held out).
    LOSS_LAWS, HPARAM_LAWS: the loss-law definitions by name, and the hyperparameter-optimum laws.

Layout, one job a module:
    entry.py          fit(): validates runs, picks the law ("auto"), searches, holds out, bootstraps
    holdout.py        the extrapolation check (largest N, then largest D held out) and "auto"'s choice
    cuts.py           the nested leave-largest-out refits, and the groups (runs) rows belong to
    result.py         Estimate, Fit (and its evaluator), OptimumFit, SweepOptimum, Holdout
    storage.py        load_fit: a stored to_dict() back to its object, by "kind"
    minimums.py       minimum(law): the least data each fitting function accepts
    extrapolation.py  the prediction interval's error model: run-to-run scatter, and the growth of
                      the error beyond the fitted range measured on nested leave-largest-out refits
    scatter.py        the run-to-run scatter's trend with scale, where the runs show one
    synthetic.py      known laws sampled with seeded noise, and interval coverage over trials
    flops.py          training_compute: C = 6ND
    _validate.py      input checks: a ValueError naming the argument and the fix
    objective.py      Huber loss on log residuals and its derivatives
    solve.py          many Huber problems solved at once (Levenberg-Marquardt on the IRLS surrogate)
    search.py         multi-start global search, L-BFGS-B polish, the distinct local minima
    bootstrap.py      resampling runs (or groups of checkpoints), every replicate to its own minimum,
                      failures counted
    allocation.py     compute-optimal N and D for a budget, from a fitted loss law
    optimum.py        sweeps -> per-sweep optima -> LR / batch-size optimum power laws
    bowl.py           one sweep's optimum: a robust quadratic near the best runs
    located.py        how each sweep or budget optimum was located (bowl or small-sweep rule), counted
    log_linear.py     power laws fitted by least squares in log space (PowerLaw and the shared fit)
    frontier.py       compute-optimal frontier from the runs themselves (approaches 1 and 2)
    batch_size.py     the critical batch size measured from runs (McCandlish, Kaplan, Zhang)
    loss_at_steps.py  Kaplan's L(N, S_min) fitted, and the loss after S steps at batch B
    curves.py         loss-curve utilities: smoothing, steps to a target, shared targets
    laws/             law forms, one file per family: base (the Law shape), chinchilla, kaplan, power,
                      kaplan_steps (L(N, S_min)), hparams (sweep bowls, optimum forms),
                      critical_batch (the B_crit relations)

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
from fitting.result import DirectionHoldout, Estimate, Fit, Holdout, OptimumFit, SweepOptimum
from fitting.storage import load_fit
from fitting.transfer import TransferredLR, transfer_lr

__all__ = [
    "HPARAM_LAWS",
    "LOSS_LAWS",
    "Allocation",
    "BudgetOptimum",
    "CriticalBatch",
    "CriticalBatchCurve",
    "DirectionHoldout",
    "Estimate",
    "Fit",
    "Frontier",
    "Holdout",
    "Minimum",
    "OptimumFit",
    "PowerLaw",
    "KaplanStepLaw",
    "SweepOptimum",
    "TransferredLR",
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
    "transfer_lr",
]
