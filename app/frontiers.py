"""The compute-optimal frontier from a study's own runs: Hoffmann et al. 2022 approaches 1 and 2,
fitted beside the parametric law (approach 3) so a reader sees whether the three agree.

- "frontier_envelope" (approach 1): the stored loss curves of the finished runs; at each FLOP value
  the run whose curve is lowest gives N_opt(C) and D_opt(C) (fitting.envelope_frontier).
- "frontier_isoflop" (approach 2): finished runs grouped into compute budgets; per budget a
  parabola of loss in log N gives the optimum (fitting.isoflop_frontier).

Both count compute as C = 6ND with N the law's parameters (non-embedding when known), the
convention of the loss laws and of the compute-optimal split of /v1/predict. IsoFLOP budgets are
found from the FLOPs a run recorded (the trainer's count, attention included: what a planned
IsoFLOP design holds fixed) where every run has them, and each budget is then labelled by its
runs' mean 6ND, so the fitted N_opt(C) answers in the same convention as the other approaches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app import curves
from app import runs as runs_module
from app.db.tables import Run

FRONTIER_LAWS = ("frontier_envelope", "frontier_isoflop")
# Runs whose 6ND compute lies within this factor of their neighbour's share one IsoFLOP budget:
# a design's runs differ by rounding to whole batches (a few percent); budgets are spaced wider.
BUDGET_TOLERANCE = 1.25
MIN_BUDGETS = 3  # N_opt = k C^a has two parameters: three budgets at least
MIN_RUNS_PER_BUDGET = 3  # a parabola in log N has three
MIN_CURVES = 3  # the envelope compares curves: three runs at least
MIN_POINTS = 4  # curve points per run for an envelope worth the name


def compute_of(run: Run) -> float:
    """C = 6ND (Kaplan et al. 2020, sec. 2.1) with the law's N."""
    return 6.0 * runs_module.law_params(run) * run.tokens


def isoflop_budgets(
    compute: Sequence[float], tolerance: float = BUDGET_TOLERANCE, *, label: Sequence[float] | None = None
) -> list[float]:
    """The budget of every run: runs sorted by compute, a new budget wherever the next run's compute
    exceeds the previous one's by more than `tolerance`; a budget is the geometric mean of its runs'
    `label` (default: their compute)."""
    label = compute if label is None else label
    order = np.argsort(compute)
    groups: list[list[int]] = []
    for i in order:
        if groups and compute[i] <= compute[groups[-1][-1]] * tolerance:
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    labels = [0.0] * len(compute)
    for members in groups:
        budget = math.exp(sum(math.log(label[i]) for i in members) / len(members))
        for i in members:
            labels[i] = budget
    return labels


def budgets_of(runs: Sequence[Run]) -> list[float]:
    """Each run's IsoFLOP budget (in 6ND), grouped by recorded FLOPs when every run has them."""
    six_nd = [compute_of(r) for r in runs]
    recorded = [r.flops for r in runs]
    if all(f is not None and f > 0 for f in recorded):
        return isoflop_budgets(recorded, label=six_nd)
    return isoflop_budgets(six_nd)


def isoflop_shortfall(runs: Sequence[Run]) -> str | None:
    """Why these runs cannot give approach 2, or None when they can."""
    labels = budgets_of(runs)
    counts: dict[float, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    usable = sum(count >= MIN_RUNS_PER_BUDGET for count in counts.values())
    if usable >= MIN_BUDGETS:
        return None
    return (
        f"frontier_isoflop needs >={MIN_BUDGETS} compute budgets of >={MIN_RUNS_PER_BUDGET} finished runs each "
        f"(runs within {BUDGET_TOLERANCE}x in FLOPs share a budget; submit an IsoFLOP sweep or a plan); "
        f"this study has {usable}"
    )


def fit_isoflop(runs: Sequence[Run], *, bootstrap: int, seed: int) -> tuple[Any, dict[str, Any]]:
    """(fitting.Frontier of approach 2, context) from finished runs."""
    import fitting

    compute = [compute_of(r) for r in runs]
    frontier = fitting.isoflop_frontier(
        compute=budgets_of(runs),
        N=[runs_module.law_params(r) for r in runs],
        D=[r.tokens for r in runs],
        loss=[r.loss for r in runs],
        bootstrap=bootstrap,
        seed=seed,
    )
    return frontier, {"input_ranges": {"C": [min(compute), max(compute)]}, "run_ids": [r.id for r in runs]}


def curve_runs(*, session: Session, runs: Sequence[Run]) -> list[Run]:
    """The runs with a stored curve of at least MIN_POINTS points."""
    return curves.runs_with_points(session=session, runs=runs, min_points=MIN_POINTS)


def envelope_shortfall(curved: Sequence[Run]) -> str | None:
    """Why these runs cannot give approach 1, or None when they can."""
    sizes = {runs_module.law_params(r) for r in curved}
    if len(curved) >= MIN_CURVES and len(sizes) >= MIN_CURVES:
        return None
    return (
        f"frontier_envelope needs loss curves (>={MIN_POINTS} points) of >={MIN_CURVES} finished runs of "
        f">={MIN_CURVES} model sizes; this study has {len(curved)} such run(s) of {len(sizes)} size(s) "
        "(imported runs have no curves)"
    )


def envelope_points(*, session: Session, runs: Sequence[Run]) -> dict[str, list[float]]:
    """Every curve point of `runs` as the arrays fitting.envelope_frontier takes: eval loss where
    measured, else train loss (one source per run, never a mix within a curve)."""
    out: dict[str, list[float]] = {"run": [], "N": [], "tokens": [], "loss": []}
    for run in runs:
        points = [p for p in curves.get_curve(session=session, run_id=run.id) if p.tokens > 0]
        evals = [(p.tokens, p.eval_loss) for p in points if p.eval_loss is not None and p.eval_loss > 0]
        trains = [(p.tokens, p.train_loss) for p in points if p.train_loss is not None and p.train_loss > 0]
        chosen = evals if len(evals) >= MIN_POINTS else trains
        for tokens, loss in chosen:
            out["run"].append(run.id)
            out["N"].append(runs_module.law_params(run))
            out["tokens"].append(tokens)
            out["loss"].append(loss)
    return out


def fit_envelope(points: dict[str, list[float]], *, bootstrap: int, seed: int) -> tuple[Any, dict[str, Any]]:
    """(fitting.Frontier of approach 1, context) from curve points."""
    import fitting

    frontier = fitting.envelope_frontier(**points, bootstrap=bootstrap, seed=seed)
    compute = [6.0 * n * d for n, d in zip(points["N"], points["tokens"], strict=True)]
    return frontier, {
        "input_ranges": {"C": [min(compute), max(compute)]},
        "run_ids": sorted(set(points["run"])),
    }
