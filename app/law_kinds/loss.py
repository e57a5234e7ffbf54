"""Loss laws: L(N, D) fitted to the final losses of finished runs (Chinchilla, its α = β form,
Kaplan's joint law, "auto" choosing among them by held-out error), or L(C) as one power law.

A loss law describes the envelope: the loss of each (N, D) at its best learning rate and batch
size. A study that sweeps LR or batch holds off-optimum runs above that envelope, which would pull
E and the exponents up; so by default (option runs="best_per_size") a fit takes, of each (N, D),
the runs of its best setting (the lowest mean loss; replicates of that setting are all kept), and
says how many it left out. runs="all" fits every run.

Rows imported as checkpoints of runs carry their run (runs.group_key): a fit over any such row
bootstraps whole runs (fitting.fit's group=), each checkpoint of a run drawn with the others, and a
run without one (a trained run, whose one final loss is its own group) alone.

Predicts the loss at (N, D) and, for laws of N and D, the compute-optimal split at C = 6ND.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.orm import Session

import fitting
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
    draws_summary,
    interval,
    plain,
    run_columns,
)

if TYPE_CHECKING:
    from app.runs import FitRun

# Which runs a loss fit uses: each (N, D)'s best LR/batch setting, or every run.
RUN_CHOICES = ("best_per_size", "all")
DEFAULT_RUNS = "best_per_size"
# Runs whose N and D agree within this relative distance are one (N, D): token counts of a batch
# sweep differ by the rounding of steps to whole batches.
SAME_SIZE = 1e-3


@dataclass(frozen=True)
class Envelope:
    """Which runs are each (N, D)'s best setting: indices kept, and the runs of other settings."""

    kept: list[int]
    left_out: list[int]
    sweeps: int  # (N, D) cells with more than one LR/batch setting


def _clusters(values: Sequence[float]) -> list[int]:
    """A label per value: values within SAME_SIZE (relative) of their sorted neighbour share one."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    labels = [0] * len(values)
    label = 0
    for previous, current in zip(order, order[1:], strict=False):
        if values[current] > values[previous] * (1.0 + SAME_SIZE):
            label += 1
        labels[current] = label
    return labels


def envelope(
    n_params: Sequence[float], tokens: Sequence[float], losses: Sequence[float], settings: Sequence[Any]
) -> Envelope:
    """Of each (N, D), the runs of the setting (LR, batch) with the lowest mean loss.

    Runs of one setting are replicates (seeds), all kept: taking the best of several seeds would
    bias the law low. A cell whose runs share one setting is not a sweep and is kept whole.
    """
    cells: dict[tuple[int, int], dict[Any, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, key in enumerate(zip(_clusters(n_params), _clusters(tokens), strict=True)):
        cells[key][settings[i]].append(i)
    kept: list[int] = []
    left_out: list[int] = []
    sweeps = 0
    for by_setting in cells.values():
        best = min(by_setting.values(), key=lambda rows: (sum(losses[i] for i in rows) / len(rows), rows[0]))
        sweeps += len(by_setting) > 1
        for rows in by_setting.values():
            (kept if rows is best else left_out).extend(rows)
    return Envelope(sorted(kept), sorted(left_out), sweeps)


def _cells(runs: Sequence[FitRun]) -> list[tuple[int, int]]:
    """The (N, D) cell of each run: labels of N and of D, equal within SAME_SIZE."""
    n_params = _clusters([float(runs_module.n_for_laws(r)) for r in runs])
    return list(zip(n_params, _clusters([float(r.tokens) for r in runs]), strict=True))


def run_envelope(runs: Sequence[FitRun]) -> Envelope:
    """envelope() of finished runs: their law N, tokens, loss and (LR, batch) setting."""
    return envelope(
        [float(runs_module.n_for_laws(r)) for r in runs],
        [float(r.tokens) for r in runs],
        [float(r.loss) for r in runs],
        [(r.lr, r.batch_tokens) for r in runs],
    )


def law_inputs(fit: Any, n_params: Any, tokens: Any) -> dict[str, Any]:
    """What a loss fit's predict takes at (N, D): N and D, or its one variable (C = 6ND for "power")."""
    if fit.variable:
        given = {"N": n_params, "D": tokens}
        return {fit.variable: given.get(fit.variable, fitting.training_compute(n_params, tokens))}
    return {"N": n_params, "D": tokens}


class LossKind(KindDefaults):
    """Loss laws of N and D (or of compute alone, "power")."""

    name = "loss"
    laws = ("chinchilla", "chinchilla_equal", "kaplan", "power", "auto")
    options = ("runs",)
    slots = ("loss",)
    # "auto" picks the loss law with the best held-out error.
    expected = {"loss": "auto"}
    answer_keys = ("loss", "compute_optimal")

    def check_options(self, law: str, options: dict[str, Any]) -> dict[str, Any]:
        runs = options.get("runs") or DEFAULT_RUNS
        if runs not in RUN_CHOICES:
            raise InvalidInput(
                f"runs must be {' or '.join(RUN_CHOICES)}, got {runs!r}: best_per_size fits each (N, D)'s best "
                "LR/batch setting (the envelope a loss law describes), all fits every run",
                field="runs",
            )
        return {"runs": runs}

    def select(self, *, session: Session, request: FitRequest) -> list[FitRun]:
        law = request.law
        runs = runs_module.fittable_runs(session=session, study_id=request.study_id, run_ids=request.run_ids)
        dropped = 0
        if request.options.get("runs", DEFAULT_RUNS) == "best_per_size":
            chosen = run_envelope(runs)
            runs, dropped = [runs[i] for i in chosen.kept], len(chosen.left_out)
        needed = fitting.minimum(law).runs
        if len(runs) < needed:
            aside = (
                f' ({dropped} runs of other LR/batch settings at the same (N, D) do not count; runs="all" fits them)'
                if dropped
                else ""
            )
            raise InvalidInput(
                f"the {law} law needs at least {needed} finished runs with a loss; this study has "
                f"{len(runs)}: {needed - len(runs)} more needed{aside}",
                field="runs",
            )
        return runs

    def read_runs(self, *, session: Session, fit: Fit) -> list[FitRun]:
        # The fit's runs and, in the same read, the study's others (among the runs asked for, when
        # the fit was asked for some): the answer counts their settings at the fit's (N, D) as left out.
        asked = (fit.run_filter or {}).get("run_ids")
        return runs_module.fittable_runs(session=session, study_id=fit.study_id, run_ids=asked)

    def load(self, *, session: Session, fit: Fit, runs: list[FitRun]) -> dict[str, Any]:
        used_ids = set(fit.run_ids) if fit.run_ids is not None else {r.id for r in runs}
        others = [r for r in runs if r.id not in used_ids]
        runs = [r for r in runs if r.id in used_ids]
        cells = _cells(runs + others)
        used_cells = set(cells[: len(runs)])
        return {
            "N": [runs_module.n_for_laws(r) for r in runs],
            "D": [r.tokens for r in runs],
            "loss": [r.loss for r in runs],
            "sweeps": run_envelope(runs).sweeps,
            "left_out": sum(cell in used_cells for cell in cells[len(runs) :]),
            "group": run_groups(runs),
        }

    def fit(
        self, data: Any, *, law: str, options: dict[str, Any], bootstrap: int, seed: int, progress: Any = None
    ) -> Fitted:
        if law == "power":  # one input: the compute C = 6ND
            inputs = {"C": fitting.training_compute(data["N"], data["D"]).tolist()}
        else:
            inputs = {"N": data["N"], "D": data["D"]}
        group = data.get("group")
        if group is not None:  # checkpoints of one run: the bootstrap draws whole runs
            inputs["group"] = group
        result = fitting.fit(
            law, loss=data["loss"], bootstrap=bootstrap, seed=seed, progress=progress, **inputs
        )
        params, intervals = draws_summary(result)
        runs = options.get("runs", DEFAULT_RUNS)
        left_out, sweeps = data.get("left_out", 0), data.get("sweeps", 0)
        notes = _run_notes(runs, len(data["loss"]), left_out, sweeps)
        context: dict[str, Any] = {"runs": runs, "left_out": left_out, "sweeps": sweeps}
        if group is not None:
            context["groups"] = len(set(group))
            notes.append(
                f"{len(group)} rows from {context['groups']} runs: checkpoints of one run resampled together"
            )
        # Stored as it is (a loss fit's dict is NaN-free and restores exactly), with the runs it took.
        return Fitted(
            result.law,
            params,
            intervals,
            float(result.objective),
            [*notes, *result.warnings],
            {**result.to_dict(), "context": context},
        )

    def predict(self, stored: Mapping[str, StoredFit], query: Query) -> None:
        if "loss" not in stored:
            return
        fit = stored["loss"].restored
        fit_id = stored["loss"].fit_id
        n_params, tokens, compute = query.n_params, query.tokens, query.compute
        if fit.variable:
            inputs = {fit.variable: {"N": n_params, "D": tokens, "C": compute}.get(fit.variable, compute)}
        else:
            inputs = {"N": n_params, "D": tokens}
        try:
            estimate, law_only = fit.predict_both(LEVEL, **inputs)
        except ValueError as error:
            raise InvalidInput(str(error), field="n_params") from error
        query.loss = estimate
        answer, warnings = query.answer, query.warnings
        parameter = interval(law_only)
        answer["loss"] = {
            **interval(estimate),
            "interval": "prediction" if fit.error_model is not None else "parameter",
            "parameter": {"lo": parameter["lo"], "hi": parameter["hi"]},
        }
        answer["fit_id"], answer["law"] = fit_id, fit.law
        warnings.extend(f"loss fit {fit_id}: {w}" for w in fit.warnings)
        ranges = fit.input_ranges
        if "N" in ranges and "D" in ranges:
            warnings.extend(beyond("loss", compute, fitting.training_compute(ranges["N"][1], ranges["D"][1])))
        elif "C" in ranges:
            warnings.extend(beyond("loss", compute, ranges["C"][1]))
        if tuple(fit.inputs) != ("N", "D"):
            warnings.append(
                f"compute_optimal: the loss fit is a law of {fit.inputs[0]} alone, not of N and D"
            )
            return
        try:
            allocation = fitting.optimal_allocation(fit, compute, level=LEVEL)
        except ValueError as error:  # e.g. a budget too small for any model: the rest still answers
            warnings.append(f"compute_optimal: {error}")
            return
        warnings.extend(f"compute_optimal: {w}" for w in allocation.warnings)
        optimum = {"n_params": interval(allocation.n_params), "tokens": interval(allocation.tokens)}
        if any(part["value"] is None for part in optimum.values()):  # e.g. a compute that underflows
            warnings.append(f"compute_optimal: no finite optimum for compute {compute:.3g}")
            return
        answer["compute_optimal"] = optimum

    def plots(self, fit: Fit, restored: Any, runs: list[FitRun]) -> list[Plot]:
        from app.reports.plots import loss as drawing  # matplotlib loads with a report only

        return drawing.plots(fit, restored, runs)

    def fitted_values(self, fit: Fit, restored: Any, runs: list[FitRun]) -> list[dict[str, Any]]:
        """Each run's loss beside the law's fitted loss, its 95% interval and the residual loss - fitted."""
        if not runs:
            return []
        n_params = np.array([runs_module.n_for_laws(r) for r in runs], dtype=float)
        tokens = np.array([r.tokens for r in runs], dtype=float)
        fitted = restored.predict(level=LEVEL, **law_inputs(restored, n_params, tokens))
        rows = []
        for i, run in enumerate(runs):
            value = float(fitted.value[i])
            rows.append(
                {
                    **run_columns(run),
                    "fitted": value,
                    "fitted_lo": plain(fitted.lo[i]),
                    "fitted_hi": plain(fitted.hi[i]),
                    "residual": run.loss - value,
                    "log_residual": math.log(run.loss / value),
                }
            )
        return rows


def run_groups(runs: Sequence[FitRun]) -> list[str] | None:
    """The run each row was measured on, as fitting.fit's group= takes it: the imported group_key,
    else the run's own id (a trained run is one final loss); None when no run names a group."""
    if all(r.group_key is None for r in runs):
        return None
    return [f"group {r.group_key}" if r.group_key is not None else f"run {r.id}" for r in runs]


def _run_notes(runs: str, n_used: int, left_out: int, sweeps: int) -> list[str]:
    """What a loss fit says about the runs it took, when the study swept LR or batch size."""
    if runs == "best_per_size" and left_out:
        return [
            f"fitted to the best LR/batch setting of each (N, D): {n_used} runs; {left_out} runs of other "
            'settings at those sizes are left out (a loss law describes the envelope); runs="all" fits every run'
        ]
    if runs == "all" and sweeps:
        return [
            f'runs="all": {sweeps} (N, D) hold several LR/batch settings and all {n_used} runs are fitted, '
            'off-optimum ones included, which lifts the law above the envelope (E too high); runs="best_per_size" '
            "fits each (N, D)'s best setting"
        ]
    return []
