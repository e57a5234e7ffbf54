"""Hyperparameter optima: power laws of the best learning rate ("lr_opt") and batch size
("batch_opt") of (N, D) sweeps, in the Step Law (Li et al. 2025) or DeepSeek (Bi et al. 2024) form.

A sweep is the finished runs of one (N, D) at several values of the swept hyperparameter;
fitting locates each sweep's optimum, then fits the power law across sweeps. The form and the
bowl window are options of the fit request, kept in the fit's `run_filter`. Without a form, the
study's parametrization decides: a μP study's LR law is fitted against tokens alone (form
"tokens"), since μP transfers the LR tuned at the base width across width (Yang et al. 2022).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.orm import Session

import fitting
from app import runs as runs_module
from app import studies
from app.db.tables import Fit, Study
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
    json_safe,
    plain,
    run_columns,
)

if TYPE_CHECKING:
    from app.runs import FitRun

# A wider window reaches runs far from the optimum, where the landscape is no longer a bowl.
MAX_WINDOW = 0.5
# The form of a μP study's LR law: a power law in tokens, no N (fitting.laws.hparams).
MUP_LR_FORM = "tokens"


def default_form(law: str, study: Study) -> str:
    """The form a fit of `law` takes when the request names none: "tokens" for a μP study's LR law
    (its optimum does not move with width), else "auto" (Step Law or DeepSeek, by held-out error)."""
    return MUP_LR_FORM if law == "lr_opt" and study.parametrization == "mup" else "auto"


def mup_note(base_d_model: int | None) -> str:
    """Why a μP study's LR law has no N, in words (shown with the fit and with its predictions)."""
    width = f"d_model={base_d_model}" if base_d_model is not None else "its base width"
    return (
        f"μP study: the LR law is fitted against tokens; μP transfers the LR tuned at base width {width} "
        "across width, so the predicted lr_opt does not depend on n_params (it is the LR to set at the base "
        "width; the μP trainer scales it per layer at other widths)"
    )


@dataclass(frozen=True)
class OptimumKind(KindDefaults):
    """One swept hyperparameter: the run column it reads and the answer key it fills."""

    name: str
    column: str  # the run column that is swept (a FitRun field)
    plural: str  # how a message names its values
    answer_key: str

    options = ("form", "window")

    @property
    def laws(self) -> tuple[str, ...]:
        return (self.name,)

    @property
    def slots(self) -> tuple[str, ...]:
        return (self.name,)

    @property
    def expected(self) -> dict[str, str]:
        return {self.name: self.name}

    @property
    def answer_keys(self) -> tuple[str, ...]:
        return (self.answer_key,)

    def check_options(self, law: str, options: dict[str, Any]) -> dict[str, Any]:
        """The form when one is given (none: the study's default, `default_form`) and the window."""
        checked: dict[str, Any] = {}
        form = options.get("form")
        if form:
            try:
                fitting.minimum(law, form)  # fitting knows the forms
            except ValueError as error:
                raise InvalidInput(f"form {form!r} is unknown ({error})", field="form") from None
            checked["form"] = form
        window = options.get("window")
        if window is not None:
            if not 0.0 < window <= MAX_WINDOW:
                raise InvalidInput(
                    f"window ({window}) must be in (0, {MAX_WINDOW}]: a log-loss distance such as 0.02 (2%)",
                    field="window",
                )
            checked["window"] = window
        return checked

    def select(self, *, session: Session, request: FitRequest) -> list[FitRun]:
        """Finished runs with the swept hyperparameter; InvalidInput unless enough sweeps can locate an optimum."""
        law, options = request.law, request.options
        found = runs_module.fittable_runs(session=session, study_id=request.study_id, run_ids=request.run_ids)
        runs = [r for r in found if getattr(r, self.column) is not None]
        sweeps: dict[tuple[float, float], list[FitRun]] = defaultdict(list)
        for run in runs:
            sweeps[runs_module.n_for_laws(run), run.tokens].append(run)
        form = options.get("form") or default_form(
            law, studies.get_study(session=session, study_id=request.study_id)
        )
        least = fitting.minimum(law, form)
        usable = sum(
            len(members) >= least.runs_per_group
            and len({getattr(r, self.column) for r in members}) >= least.values_per_group
            for members in sweeps.values()
        )
        if usable < least.groups:
            raise InvalidInput(
                f"{law} ({form}) needs >={least.groups} (N, D) sweeps of >={least.runs_per_group} finished "
                f"runs over >={least.values_per_group} {self.plural} each; this study has {usable}",
                field="runs",
            )
        return runs

    def load(self, *, session: Session, fit: Fit, runs: list[FitRun]) -> dict[str, Any]:
        """The sweeps as arrays, the runs' seq_len when they share one (batch sizes in sequences), and
        the study's parametrization, which sets the form when the request named none."""
        seq_lens = {(r.spec or {}).get("seq_len") for r in runs}
        study = studies.get_study(session=session, study_id=fit.study_id)
        return {
            "parametrization": study.parametrization,
            "base_d_model": study.base_d_model,
            "default_form": default_form(fit.law, study),
            "N": [runs_module.n_for_laws(r) for r in runs],
            "D": [r.tokens for r in runs],
            "loss": [r.loss for r in runs],
            "lr": [r.lr for r in runs],
            "batch": [r.batch_tokens for r in runs],
            "seq_len": seq_lens.pop() if len(seq_lens) == 1 else None,
        }

    def fit(
        self, data: Any, *, law: str, options: dict[str, Any], bootstrap: int, seed: int, progress: Any = None
    ) -> Fitted:
        swept = {"lr": data["lr"]} if law == "lr_opt" else {}
        if all(b is not None for b in data["batch"]):
            swept["batch"] = data["batch"]  # also a sweep axis where a group varies it
        extra = {"window": options["window"]} if "window" in options else {}
        form = options.get("form") or data.get("default_form", "auto")
        result = fitting.fit(
            law,
            loss=data["loss"],
            N=data["N"],
            D=data["D"],
            form=form,
            bootstrap=bootstrap,
            seed=seed,
            **extra,
            **swept,
        )
        params, intervals = draws_summary(result)
        context: dict[str, Any] = {"seq_len": data["seq_len"]}
        if data.get("parametrization") == "mup":
            context.update(parametrization="mup", base_d_model=data.get("base_d_model"))
            if law == "lr_opt" and result.form == MUP_LR_FORM:
                context["note"] = mup_note(data.get("base_d_model"))
            elif law == "lr_opt":
                result.warnings.append(
                    f"μP study: form {result.form} fits the LR law against N or compute, but under μP the LR "
                    f"tuned at the base width does not move with width: form {MUP_LR_FORM} (this study's "
                    "default) fits it against tokens alone"
                )
        # NaN bounds (no bootstrap) become null: JSON columns refuse NaN on PostgreSQL.
        stored = json_safe({**result.to_dict(), "context": context})
        objective = getattr(result, "objective", None)
        return Fitted(
            result.law,
            params,
            intervals,
            float(objective) if objective is not None else None,
            list(result.warnings),
            stored,
        )

    def predict(self, stored: Mapping[str, StoredFit], query: Query) -> None:
        if self.name not in stored:
            return
        entry = stored[self.name]
        fit = entry.restored
        try:
            estimate = fit.predict(level=LEVEL, N=query.n_params, D=query.tokens)
        except ValueError as error:
            raise InvalidInput(str(error), field="n_params") from error
        warnings = query.warnings
        if entry.context.get("note"):  # why a μP study's LR does not depend on n_params
            warnings.append(f"{self.name} fit {entry.fit_id}: {entry.context['note']}")
        warnings.extend(f"{self.name} fit {entry.fit_id}: {w}" for w in fit.warnings)
        if fit.form == MUP_LR_FORM:  # a law in tokens alone extrapolates in tokens, whatever the model size
            warnings.extend(
                beyond(
                    self.name,
                    query.tokens,
                    fit.input_ranges.get("D", (None, None))[1],
                    quantity="tokens",
                    fitted="sweep",
                )
            )
        else:
            warnings.extend(beyond(self.name, query.compute, fit.input_ranges.get("C", (None, None))[1]))
        if self.answer_key != "batch_size_opt":
            query.answer[self.answer_key] = interval(estimate)
            return
        seq_len = query.study.seq_len or entry.context.get("seq_len")
        if not seq_len:
            warnings.append(
                "batch_size_opt: the study's sequence length is unknown (no seq_len in its defaults or shared by "
                "its runs), so the batch size is given in tokens only"
            )
        query.answer[self.answer_key] = {
            "tokens": interval(estimate),
            "sequences": interval(estimate, 1.0 / float(seq_len)) if seq_len else None,
        }

    def located(self, optimum: Any) -> Any:
        """A sweep's located optimum of this kind's hyperparameter (an Estimate, None when not located)."""
        return optimum.lr if self.name == "lr_opt" else optimum.batch

    def sweep_of(self, restored: Any, run: FitRun) -> Any:
        """The sweep optimum of `run`'s (N, D), None when fitting formed no sweep of it."""
        n_params, tokens = runs_module.n_for_laws(run), run.tokens
        for optimum in restored.optima:
            if math.isclose(optimum.N, n_params, rel_tol=1e-9) and math.isclose(
                optimum.D, tokens, rel_tol=1e-9
            ):
                return optimum
        return None

    def plots(self, fit: Fit, restored: Any, runs: list[FitRun]) -> list[Plot]:
        from app.reports.plots import optimum as drawing  # matplotlib loads with a report only

        return drawing.plots(self, fit, restored, runs)

    def fitted_values(self, fit: Fit, restored: Any, runs: list[FitRun]) -> list[dict[str, Any]]:
        """Each run with its sweep's located optimum and the power law's optimum at its (N, D); the
        residual, log(located / law), is its sweep's (only sweeps with an interior optimum have one)."""
        if not runs:
            return []
        law = restored.predict(
            level=LEVEL,
            N=np.array([runs_module.n_for_laws(r) for r in runs], dtype=float),
            D=np.array([r.tokens for r in runs], dtype=float),
        )
        rows = []
        for i, run in enumerate(runs):
            sweep = self.sweep_of(restored, run)
            located = self.located(sweep) if sweep is not None else None
            value = float(law.value[i])
            found = located is not None and sweep.status == "found"
            rows.append(
                {
                    **run_columns(run),
                    "lr": run.lr,
                    "batch_tokens": run.batch_tokens,
                    "sweep_status": sweep.status if sweep is not None else None,
                    "sweep_located_by": sweep.located_by if sweep is not None else None,
                    "sweep_optimum": plain(located.value) if located is not None else None,
                    "sweep_optimum_lo": plain(located.lo) if located is not None else None,
                    "sweep_optimum_hi": plain(located.hi) if located is not None else None,
                    "fitted": value,
                    "fitted_lo": plain(law.lo[i]),
                    "fitted_hi": plain(law.hi[i]),
                    "log_residual": math.log(located.value / value) if found else None,
                }
            )
        return rows


LR_OPT = OptimumKind("lr_opt", "lr", "learning rates", "lr_opt")
BATCH_OPT = OptimumKind("batch_opt", "batch_tokens", "batch sizes", "batch_size_opt")
