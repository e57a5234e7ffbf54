"""The frontier law kind: the compute-optimal frontier from a study's own runs: Hoffmann et al. 2022 approaches 1 and 2,
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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.orm import Session

import fitting
from app import curves
from app import runs as runs_module
from app.db.tables import Fit
from app.errors import InvalidInput
from app.law_kinds.base import (
    LEVEL,
    FitRequest,
    Fitted,
    KindDefaults,
    Plot,
    Query,
    StoredFit,
    beyond,
    estimates_summary,
    interval,
    json_safe,
    plain,
    run_columns,
)

if TYPE_CHECKING:
    from app.runs import FitRun

FRONTIER_LAWS = ("frontier_envelope", "frontier_isoflop")
# Runs whose 6ND compute lies within this factor of their neighbour's share one IsoFLOP budget:
# a design's runs differ by rounding to whole batches (a few percent); budgets are spaced wider.
BUDGET_TOLERANCE = 1.25
# What fitting itself refuses less than: budgets and runs per budget for approach 2, curves for 1.
MIN_BUDGETS = fitting.minimum("frontier_isoflop").groups
MIN_RUNS_PER_BUDGET = fitting.minimum("frontier_isoflop").runs_per_group
MIN_CURVES = fitting.minimum("frontier_envelope").groups
# Curve points per run: fitting interpolates between two, but an envelope worth the name, and the
# choice between eval and train losses below, wants four.
MIN_POINTS = max(4, fitting.minimum("frontier_envelope").runs_per_group)


def compute_of(run: FitRun) -> float:
    """C = 6ND with the law's N."""
    return float(fitting.training_compute(runs_module.n_for_laws(run), run.tokens))


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


def budgets_of(runs: Sequence[FitRun]) -> list[float]:
    """Each run's IsoFLOP budget (in 6ND), grouped by recorded FLOPs when every run has them."""
    six_nd = [compute_of(r) for r in runs]
    recorded = [r.flops for r in runs]
    if all(f is not None and f > 0 for f in recorded):
        return isoflop_budgets(recorded, label=six_nd)
    return isoflop_budgets(six_nd)


def isoflop_shortfall(runs: Sequence[FitRun]) -> str | None:
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


def fit_isoflop(runs: Sequence[FitRun], *, bootstrap: int, seed: int) -> tuple[Any, dict[str, Any]]:
    """(fitting.Frontier of approach 2, context) from finished runs."""
    compute = [compute_of(r) for r in runs]
    frontier = fitting.isoflop_frontier(
        compute=budgets_of(runs),
        N=[runs_module.n_for_laws(r) for r in runs],
        D=[r.tokens for r in runs],
        loss=[r.loss for r in runs],
        bootstrap=bootstrap,
        seed=seed,
    )
    return frontier, {"input_ranges": {"C": [min(compute), max(compute)]}, "run_ids": [r.id for r in runs]}


def curve_runs(*, session: Session, runs: Sequence[FitRun]) -> list[FitRun]:
    """The runs with a stored curve of at least MIN_POINTS points."""
    return curves.runs_with_points(session=session, runs=runs, min_points=MIN_POINTS)


def envelope_shortfall(curved: Sequence[FitRun]) -> str | None:
    """Why these runs cannot give approach 1, or None when they can."""
    sizes = {runs_module.n_for_laws(r) for r in curved}
    if len(curved) >= MIN_CURVES and len(sizes) >= MIN_CURVES:
        return None
    return (
        f"frontier_envelope needs loss curves (>={MIN_POINTS} points) of >={MIN_CURVES} finished runs of "
        f">={MIN_CURVES} model sizes; this study has {len(curved)} such run(s) of {len(sizes)} size(s) "
        "(imported runs have no curves)"
    )


def envelope_points(*, session: Session, runs: Sequence[FitRun]) -> dict[str, list[float]]:
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
            out["N"].append(runs_module.n_for_laws(run))
            out["tokens"].append(tokens)
            out["loss"].append(loss)
    return out


def fit_envelope(points: dict[str, list[float]], *, bootstrap: int, seed: int) -> tuple[Any, dict[str, Any]]:
    """(fitting.Frontier of approach 1, context) from curve points."""
    frontier = fitting.envelope_frontier(**points, bootstrap=bootstrap, seed=seed)
    compute = fitting.training_compute(np.asarray(points["N"]), np.asarray(points["tokens"])).tolist()
    return frontier, {
        "input_ranges": {"C": [min(compute), max(compute)]},
        "run_ids": sorted(set(points["run"])),
    }


class FrontierKind(KindDefaults):
    """Hoffmann et al.'s approaches 1 and 2, shown beside approach 3 (the loss law's closed form)
    when fitted, and never asked for by /v1/predict (no warning when missing)."""

    name = "frontier"
    laws = FRONTIER_LAWS
    slots = FRONTIER_LAWS
    answer_keys = ("compute_optimal_approaches",)

    def slot(self, law: str) -> str:
        return law

    def select(self, *, session: Session, request: FitRequest) -> list[FitRun]:
        law = request.law
        runs = runs_module.fittable_runs(session=session, study_id=request.study_id, run_ids=request.run_ids)
        if law == "frontier_envelope":
            runs = curve_runs(session=session, runs=runs)
        shortfall = (envelope_shortfall if law == "frontier_envelope" else isoflop_shortfall)(runs)
        if shortfall:
            raise InvalidInput(shortfall, field="runs")
        return runs

    def load(self, *, session: Session, fit: Fit, runs: list[FitRun]) -> Any:
        if fit.law == "frontier_envelope":
            return envelope_points(session=session, runs=runs)
        return runs

    def fit(
        self, data: Any, *, law: str, options: dict[str, Any], bootstrap: int, seed: int, progress: Any = None
    ) -> Fitted:
        fitter = fit_envelope if law == "frontier_envelope" else fit_isoflop
        frontier, context = fitter(data, bootstrap=bootstrap, seed=seed)
        estimates = {
            "a": frontier.exponent_n,
            "b": frontier.exponent_d,
            "k_n": frontier.coef_n,
            "k_d": frontier.coef_d,
        }
        law_of_loss = frontier.loss_law
        if law_of_loss is not None:
            # L_opt = loss_E + loss_A C^-loss_gamma (approach 2), shown where its interval is finite.
            extra = {"loss_E": law_of_loss.E, "loss_A": law_of_loss.A, "loss_gamma": law_of_loss.gamma}
            if all(math.isfinite(e.lo) and math.isfinite(e.hi) for e in extra.values()):
                estimates.update(extra)
        params, intervals = estimates_summary(estimates)
        stored = json_safe({**frontier.to_dict(), "context": context})
        return Fitted(law, params, intervals, None, list(frontier.warnings), stored)

    def predict(self, stored: Mapping[str, StoredFit], query: Query) -> None:
        """N_opt, D_opt at this compute by approaches 1 and 2 beside approach 3, and a warning when
        their N_opt intervals do not overlap (the approaches disagree: trust none of them blindly)."""
        found = [law for law in FRONTIER_LAWS if law in stored]
        if not found:
            return
        answer, warnings = query.answer, query.warnings
        approaches: dict[str, Any] = {"approach_1": None, "approach_2": None, "approach_3": None}
        if answer.get("compute_optimal") is not None:
            approaches["approach_3"] = {**answer["compute_optimal"], "fit_id": answer["fit_ids"].get("loss")}
        for law in found:
            frontier = stored[law].restored
            n_opt, d_opt = frontier.predict(query.compute, LEVEL)
            approaches[f"approach_{frontier.approach}"] = {
                "n_params": interval(n_opt),
                "tokens": interval(d_opt),
                "fit_id": stored[law].fit_id,
                "loss": interval(frontier.predict_loss(query.compute, LEVEL)) if frontier.loss_law else None,
            }
            warnings.extend(f"{law} fit {stored[law].fit_id}: {w}" for w in frontier.warnings)
            largest = stored[law].context.get("input_ranges", {}).get("C", [0, 0])[1]
            warnings.extend(beyond(law, query.compute, largest))
        answer["compute_optimal_approaches"] = approaches
        bounds = [
            (a["n_params"]["lo"], a["n_params"]["hi"], name)
            for name, a in approaches.items()
            if a is not None and a["n_params"]["lo"] is not None and a["n_params"]["hi"] is not None
        ]
        if len(bounds) >= 2 and max(lo for lo, _, _ in bounds) > min(hi for _, hi, _ in bounds):
            names = ", ".join(name.replace("_", " ") for _, _, name in bounds)
            warnings.append(
                f"compute_optimal: the 95% intervals of N_opt by {names} do not all overlap: the approaches "
                "disagree at this compute (Hoffmann et al. 2022 found the same between their approaches)"
            )

    def plots(self, fit: Fit, restored: Any, runs: list[FitRun]) -> list[Plot]:
        from app.reports.plots import frontier as drawing  # matplotlib loads with a report only

        return drawing.plots(fit, restored, runs)

    def fitted_values(self, fit: Fit, restored: Any, runs: list[FitRun]) -> list[dict[str, Any]]:
        """Each run with the frontier's N_opt at its compute (approach 2: at its IsoFLOP budget, with
        that budget's own optimum, and the residual log(budget optimum / law))."""
        if not runs:
            return []
        own = [float(fitting.training_compute(runs_module.n_for_laws(r), r.tokens)) for r in runs]
        compute = budgets_of(runs) if restored.approach == 2 else own
        n_opt, _ = restored.predict(np.asarray(compute, dtype=float), LEVEL)
        rows = []
        for i, run in enumerate(runs):
            budget = next(
                (o for o in restored.optima if math.isclose(o.compute, compute[i], rel_tol=1e-9)), None
            )
            located = budget.n_params if budget is not None and budget.status == "found" else None
            value = float(n_opt.value[i])
            rows.append(
                {
                    **run_columns(run),
                    "budget": compute[i] if restored.approach == 2 else None,
                    "fitted_n_opt": value,
                    "fitted_n_opt_lo": plain(n_opt.lo[i]),
                    "fitted_n_opt_hi": plain(n_opt.hi[i]),
                    "budget_n_opt": plain(located.value) if located is not None else None,
                    "budget_located_by": budget.located_by if budget is not None else None,
                    "log_residual": math.log(located.value / value) if located is not None else None,
                }
            )
        return rows


FRONTIER = FrontierKind()
