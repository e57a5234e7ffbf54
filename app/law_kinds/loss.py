"""Loss laws: L(N, D) fitted to the final losses of finished runs (Chinchilla, its α = β form,
Kaplan's joint law, "auto" choosing among them by held-out error), or L(C) as one power law.

Predicts the loss at (N, D) and, for laws of N and D, the compute-optimal split at C = 6ND.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

import fitting
from app import runs as runs_module
from app.db.tables import Fit, Run
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
    slots = ("loss",)
    # "auto" picks the loss law with the best held-out error.
    expected = {"loss": "auto"}
    answer_keys = ("loss", "compute_optimal")

    def select(self, *, session: Session, request: FitRequest) -> list[Run]:
        law = request.law
        runs = runs_module.fittable_runs(session=session, study_id=request.study_id, run_ids=request.run_ids)
        needed = fitting.minimum(law).runs
        if len(runs) < needed:
            raise InvalidInput(
                f"the {law} law needs at least {needed} finished runs with a loss; this study has "
                f"{len(runs)}: {needed - len(runs)} more needed",
                field="runs",
            )
        return runs

    def load(self, *, session: Session, fit: Fit, runs: list[Run]) -> dict[str, list[float]]:
        return {
            "N": [runs_module.n_for_laws(r) for r in runs],
            "D": [r.tokens for r in runs],
            "loss": [r.loss for r in runs],
        }

    def fit(self, data: Any, *, law: str, options: dict[str, Any], bootstrap: int, seed: int) -> Fitted:
        if law == "power":  # one input: the compute C = 6ND
            inputs = {"C": fitting.training_compute(data["N"], data["D"]).tolist()}
        else:
            inputs = {"N": data["N"], "D": data["D"]}
        result = fitting.fit(law, loss=data["loss"], bootstrap=bootstrap, seed=seed, **inputs)
        params, intervals = draws_summary(result)
        # Stored as it is: a loss fit's dict is NaN-free and restores exactly.
        return Fitted(
            result.law, params, intervals, float(result.objective), list(result.warnings), result.to_dict()
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
        answer["compute_optimal"] = {
            "n_params": interval(allocation.n_params),
            "tokens": interval(allocation.tokens),
        }
        warnings.extend(f"compute_optimal: {w}" for w in allocation.warnings)

    def plots(self, fit: Fit, restored: Any, runs: list[Run]) -> list[Plot]:
        from app.reports.plots import loss as drawing  # matplotlib loads with a report only

        return drawing.plots(fit, restored, runs)

    def fitted_values(self, fit: Fit, restored: Any, runs: list[Run]) -> list[dict[str, Any]]:
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
