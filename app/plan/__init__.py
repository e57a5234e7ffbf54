"""Experiment design: the proxy runs that fit a study's laws for a target (N, D) within a budget.

Pure arithmetic over the run specs (app/specs.py) and trainer.accounting: no database, no torch.
`app.runs.submit_plan` queues a plan's runs.

    ladder.py   the shape ladder: model shapes with their parameter and FLOP counts, nearest shapes
    priors.py   published priors: compute-optimal N, optimal LR and batch size against compute
    design.py   drafting (IsoFLOP budgets and LR × batch grids, scaled to the budget by bisection)
                and assembly (checked specs, costs, warnings) into a Plan

Public API::

    from app import plan

    result = plan.plan_runs(base={"seq_len": 64}, n_params=1e8, tokens=2e9, budget_flops=1e15,
                            design=plan.Design())
    result.runs, result.total.gpu_hours, result.warnings
"""

from __future__ import annotations

from app.plan.design import (
    DEFAULT_FLOPS_PER_GPU_S,
    MIN_STEPS,
    Budget,
    Cost,
    Design,
    HparamScale,
    IsoflopBudget,
    Plan,
    PlannedRun,
    Target,
    base_spec,
    plan_runs,
)
from app.plan.ladder import LadderShape, head_dim, ladder, shapes_around
from app.plan.priors import compute_optimal_params, prior_batch_tokens, prior_lr

__all__ = [
    "DEFAULT_FLOPS_PER_GPU_S",
    "MIN_STEPS",
    "Budget",
    "Cost",
    "Design",
    "HparamScale",
    "IsoflopBudget",
    "LadderShape",
    "Plan",
    "PlannedRun",
    "Target",
    "base_spec",
    "compute_optimal_params",
    "head_dim",
    "ladder",
    "plan_runs",
    "prior_batch_tokens",
    "prior_lr",
    "shapes_around",
]
