"""The critical-batch law kind: B_crit(L) fitted from stored loss curves, with the gradient-noise-scale cross-check.

Finished runs of one model size trained at three or more batch sizes give, for each of a few
target losses every run reaches, the steps each run needed (read off its curve through
fitting.steps_to_target); fitting.critical_batch_curve turns those into McCandlish B_crit per
target and Kaplan's B_crit(L) = B*/L^(1/alpha_B). Beside each target's B_crit the result keeps the
gradient noise scale the trainer measured in those runs near that loss (curve points'
`noise_scale`, B_simple = tr(Sigma)/|G|^2 in tokens). B_simple estimates B_crit only up to a factor
(McCandlish et al. 2018, sec. 2.2: B_simple equals B_noise, hence B_crit, only when the Hessian is
a multiple of the identity), so the ratio is a check of order of magnitude, not a second fit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    json_safe,
    plain,
    run_columns,
)

if TYPE_CHECKING:
    from app.runs import FitRun

# The steps-examples trade-off has two parameters: fitting refuses fewer than this many batch sizes.
MIN_BATCH_SIZES = fitting.minimum("critical_batch").groups
MIN_POINTS = 4  # curve points a run needs for a crossing after its early transient
TARGETS = 5  # target losses per fit: B_crit(L) needs three, two more steady the slope
# A noise-scale measurement belongs to a target when it was taken within this factor in steps of
# the step where the run reached that target.
NEAR_FACTOR = 2.0


@dataclass(frozen=True)
class RunCurve:
    """One run's curve, as arrays: the loss the targets are read from, and its noise-scale points."""

    run_id: int
    n_params: float
    batch_tokens: float
    tokens: float
    steps: np.ndarray
    train_loss: np.ndarray  # NaN where not logged
    eval_loss: np.ndarray  # NaN where not measured
    noise_scale: np.ndarray  # NaN where not measured


def candidate_runs(*, session: Session, study_id: int, run_ids: Sequence[int] | None = None) -> list[FitRun]:
    """Finished runs with a batch size and at least MIN_POINTS curve points."""
    runs = runs_module.fittable_runs(session=session, study_id=study_id, run_ids=run_ids)
    with_batch = [r for r in runs if r.batch_tokens is not None]
    return curves.runs_with_points(session=session, runs=with_batch, min_points=MIN_POINTS)


def best_group(runs: Sequence[FitRun]) -> list[FitRun]:
    """The runs of the model size trained at the most batch sizes (ties: the largest model)."""
    groups: dict[float, list[FitRun]] = defaultdict(list)
    for run in runs:
        groups[runs_module.n_for_laws(run)].append(run)
    if not groups:
        return []
    n_params = max(groups, key=lambda n: (len({r.batch_tokens for r in groups[n]}), n))
    return groups[n_params]


def batch_sizes(runs: Sequence[FitRun]) -> int:
    return len({r.batch_tokens for r in runs})


def load_curves(*, session: Session, runs: Sequence[FitRun]) -> list[RunCurve]:
    """The stored curves of `runs` as arrays (read through app.curves, the table's owner)."""
    loaded = []
    for run in runs:
        points = curves.get_curve(session=session, run_id=run.id)

        def column(name: str, points=points) -> np.ndarray:
            return np.array(
                [np.nan if getattr(p, name) is None else getattr(p, name) for p in points], dtype=float
            )

        loaded.append(
            RunCurve(
                run_id=run.id,
                n_params=float(runs_module.n_for_laws(run)),
                batch_tokens=float(run.batch_tokens),
                tokens=float(run.tokens),
                steps=np.array([p.step for p in points], dtype=float),
                train_loss=column("train_loss"),
                eval_loss=column("eval_loss"),
                noise_scale=column("noise_scale"),
            )
        )
    return loaded


def _loss_curves(runs: Sequence[RunCurve]) -> tuple[str, list[tuple[np.ndarray, np.ndarray, int]]]:
    """Eval losses when every run measured at least MIN_POINTS, else train losses with a centred
    moving average over about 4% of the points (never a mix: the two differ by the generalisation gap)."""
    use_eval = all(np.sum(np.isfinite(r.eval_loss)) >= MIN_POINTS for r in runs)
    name = "eval_loss" if use_eval else "train_loss"
    out = []
    for run in runs:
        values = getattr(run, name)
        keep = np.isfinite(values) & (values > 0)
        count = int(keep.sum())
        window = 1 if use_eval else 2 * (count // 50) + 1
        out.append((run.steps[keep], values[keep], window))
    return ("eval" if use_eval else "train"), out


def fit_curves(runs: Sequence[RunCurve], *, bootstrap: int, seed: int) -> tuple[Any, dict[str, Any]]:
    """(fitting.CriticalBatchCurve, context) from one model size's runs; ValueError saying what is missing.

    context: what the curve itself does not hold but a prediction and a reader need: the runs, model
    size, loss source, scale of the runs (for extrapolation warnings) and the noise-scale check.
    """
    if len({r.batch_tokens for r in runs}) < MIN_BATCH_SIZES:
        raise ValueError(
            f"critical_batch needs runs of one model size at {MIN_BATCH_SIZES} or more batch sizes; "
            f"these runs have {len({r.batch_tokens for r in runs})}"
        )
    source, loss_curves = _loss_curves(runs)
    if any(steps.size < MIN_POINTS for steps, _, _ in loss_curves):
        raise ValueError(f"every run needs at least {MIN_POINTS} curve points with a {source} loss")
    smoothed = [fitting.smooth_loss(loss, window) for _, loss, window in loss_curves]
    targets = fitting.shared_targets(smoothed, count=TARGETS)
    if targets.size < 3:
        raise ValueError(
            "the runs' loss curves share no range of losses that every run reaches after its first points: "
            "train the large-batch runs longer"
        )
    crossings = np.array(
        [fitting.steps_to_target(steps, loss, targets, window=w) for steps, loss, w in loss_curves]
    )  # (runs, targets)
    rows = {"batch": [], "steps": [], "target_loss": []}
    for run, reached in zip(runs, crossings, strict=True):
        for target, steps in zip(targets, reached, strict=True):
            if np.isfinite(steps) and steps > 0:
                rows["batch"].append(run.batch_tokens)
                rows["steps"].append(float(steps))
                rows["target_loss"].append(float(target))
    curve = fitting.critical_batch_curve(**rows, bootstrap=bootstrap, seed=seed)
    compute = [fitting.training_compute(r.n_params, r.tokens) for r in runs]
    context = {
        "n_params": runs[0].n_params,
        "run_ids": [r.run_id for r in runs],
        "batch_tokens": sorted({r.batch_tokens for r in runs}),
        "loss_source": source,
        "input_ranges": {
            "N": [runs[0].n_params, runs[0].n_params],
            "C": [min(compute), max(compute)],
            "L": [float(targets.min()), float(targets.max())],
        },
        "noise_scale": noise_scale_check(runs, targets, crossings, curve),
    }
    return curve, context


def noise_scale_check(
    runs: Sequence[RunCurve], targets: np.ndarray, crossings: np.ndarray, curve: Any
) -> list[dict[str, Any]]:
    """Per target: the McCandlish B_crit beside the median B_simple measured near that loss.

    Near: each run's noise-scale measurement closest in log steps to where it reached the target,
    if within NEAR_FACTOR; the spread is the smallest and largest of those (few runs: no quantiles).
    """
    per_target = {c.target_loss: c for c in curve.per_target}
    out = []
    for k, target in enumerate(targets):
        values = []
        for run, reached in zip(runs, crossings[:, k], strict=True):
            measured = np.isfinite(run.noise_scale) & (run.noise_scale > 0) & (run.steps > 0)
            if not (np.isfinite(reached) and reached > 0 and measured.any()):
                continue
            distance = np.abs(np.log(run.steps[measured]) - np.log(reached))
            nearest = int(np.argmin(distance))
            if distance[nearest] <= np.log(NEAR_FACTOR):
                values.append(float(run.noise_scale[measured][nearest]))
        mcc = per_target.get(float(target))
        b_crit = mcc.b_crit.to_dict() if mcc is not None else None
        entry: dict[str, Any] = {
            "target_loss": float(target),
            "b_crit": b_crit,
            "noise_scale": None,
            "ratio": None,
        }
        if values:
            median = float(np.median(values))
            entry["noise_scale"] = {
                "median": median,
                "min": min(values),
                "max": max(values),
                "n_runs": len(values),
            }
            if b_crit is not None and median > 0:
                entry["ratio"] = b_crit["value"] / median  # B_crit / B_simple: order one when they agree
        out.append(entry)
    return out


class CriticalBatchKind(KindDefaults):
    """Kaplan's B_crit(L) = B*/L^(1/alpha_B) from one model size's runs at several batch sizes."""

    name = "critical_batch"
    laws = ("critical_batch",)
    slots = ("critical_batch",)
    expected = {"critical_batch": "critical_batch"}
    answer_keys = ("critical_batch_size",)

    def select(self, *, session: Session, request: FitRequest) -> list[FitRun]:
        """The runs of the model size with the most batch sizes; InvalidInput unless there are enough."""
        group = best_group(
            candidate_runs(session=session, study_id=request.study_id, run_ids=request.run_ids)
        )
        have = batch_sizes(group)
        if have < MIN_BATCH_SIZES:
            raise InvalidInput(
                f"critical_batch needs finished runs of one model size at >={MIN_BATCH_SIZES} batch "
                f"sizes, each with a stored loss curve of >={MIN_POINTS} points; this study has "
                f"{have} batch size(s) at its best-covered model size",
                field="runs",
            )
        return group

    def load(self, *, session: Session, fit: Fit, runs: list[FitRun]) -> list[RunCurve]:
        return load_curves(session=session, runs=runs)

    def fit(
        self, data: Any, *, law: str, options: dict[str, Any], bootstrap: int, seed: int, progress: Any = None
    ) -> Fitted:
        curve, context = fit_curves(data, bootstrap=bootstrap, seed=seed)
        params, intervals = estimates_summary({"b_star": curve.b_star, "alpha_b": curve.alpha_b})
        stored = json_safe({**curve.to_dict(), "context": context})
        return Fitted(self.name, params, intervals, None, list(curve.warnings), stored)

    def predict(self, stored: Mapping[str, StoredFit], query: Query) -> None:
        """B_crit at the predicted loss. The interval is the union of the B_crit(L) law's intervals over
        the loss interval, so both the law's and the loss prediction's uncertainty reach it."""
        if self.name not in stored:
            return
        entry, loss, warnings = stored[self.name], query.loss, query.warnings
        curve = entry.restored
        warnings.extend(f"critical_batch fit {entry.fit_id}: {w}" for w in curve.warnings)
        largest = entry.context.get("input_ranges", {}).get("C", [0, 0])[1]
        warnings.extend(beyond("critical_batch", query.compute, largest))
        if loss is None:
            warnings.append(
                "critical_batch_size: B_crit is a law of the loss, and this study has no loss fit"
            )
            return
        at_value = curve.b_crit(loss.value, LEVEL)
        bounds = [at_value.lo, at_value.hi]
        for edge in (loss.lo, loss.hi):
            if np.isfinite(edge):
                at_edge = curve.b_crit(edge, LEVEL)
                bounds += [at_edge.lo, at_edge.hi]
        finite = [float(b) for b in bounds if np.isfinite(b)]
        query.answer["critical_batch_size"] = {
            "value": float(at_value.value),
            "lo": min(finite) if finite else None,
            "hi": max(finite) if finite else None,
        }
        low, high = curve.loss_range
        if np.isfinite(low) and not low <= loss.value <= high:
            warnings.append(
                f"critical_batch_size: the predicted loss {loss.value:.4g} is outside the target losses the "
                f"B_crit(L) law was fitted on ({low:.4g} to {high:.4g}): B_crit is extrapolated"
            )

    def plots(self, fit: Fit, restored: Any, runs: list[FitRun]) -> list[Plot]:
        from app.reports.plots import critical_batch as drawing  # matplotlib loads with a report only

        return drawing.plots(fit, restored, runs)

    def fitted_values(self, fit: Fit, restored: Any, runs: list[FitRun]) -> list[dict[str, Any]]:
        """Each run with its batch size and the B_crit(L) law at the loss it ended at. The law is fitted
        to per-target B_crit, not to runs, so a run has no residual of its own (the targets' are in
        the report's JSON)."""
        rows = []
        for run in runs:
            at_loss = restored.b_crit(run.loss, LEVEL)
            rows.append(
                {
                    **run_columns(run),
                    "batch_tokens": run.batch_tokens,
                    "fitted_b_crit": plain(at_loss.value),
                    "fitted_b_crit_lo": plain(at_loss.lo),
                    "fitted_b_crit_hi": plain(at_loss.hi),
                }
            )
        return rows


CRITICAL_BATCH = CriticalBatchKind()
