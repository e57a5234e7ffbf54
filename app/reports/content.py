"""What a report says, read from the database once: the fits (each a Section), their runs, the
verdict on each law, and the study's prediction at a target N, D.

`fit_report` and `study_report` read in one short read-only transaction and return plain objects;
rendering (app/reports/render.py) happens after it, with no transaction open. A Section knows its
law kind, so the kind draws its plots and lists its runs' fitted values.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from app import fits, law_kinds, lr_at_batch, predictions, studies
from app import runs as runs_module
from app.db.tables import Fit, Study
from app.errors import InvalidInput
from app.law_kinds import LawKind, Plot
from app.law_kinds.base import LEVEL, json_safe
from app.parametrization import describe
from app.reports import version

if TYPE_CHECKING:
    from app.runs import FitRun

log = logging.getLogger(__name__)

# Warnings of fitting that say the estimate itself cannot be trusted (not merely that it is uncertain).
UNUSABLE_MARKS = ("not a trustworthy estimate", "has no optimum here")
# A fit whose bootstrap lost more than this share of its replicates has intervals that mean little.
FAILED_SHARE = 0.5


@dataclass
class Verdict:
    """Whether a law can be used: "usable", "caution" (use with care) or "unusable", and why."""

    level: str
    reasons: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.level != "unusable"


@dataclass
class Section:
    """One fit's part of a report: the stored row, its kind and restored result, the runs it used."""

    fit: Fit
    kind: LawKind | None
    restored: Any
    runs: list[FitRun]
    verdict: Verdict
    plot_error: str | None = None  # why the kind's plots could not be drawn (the numbers still stand)

    @property
    def title(self) -> str:
        kind = f" ({self.kind.name})" if self.kind is not None and self.kind.name != self.fit.law else ""
        return f"Fit {self.fit.id}: {self.fit.law}{kind}"

    @property
    def note(self) -> str | None:
        """What the fit says about itself beyond its warnings (a μP study's LR law: why it has no N)."""
        return ((self.fit.result or {}).get("context") or {}).get("note")

    def plots(self) -> list[Plot]:
        """The kind's figures (matplotlib is imported here, on the first report that draws)."""
        draw = getattr(self.kind, "plots", None)  # a kind registered without plots draws none
        if draw is None or self.restored is None or self.fit.status != "done":
            return []
        try:
            return list(draw(self.fit, self.restored, self.runs))
        except Exception as error:  # a figure that fails must not take the report's numbers with it
            log.exception("the plots of fit %s failed", self.fit.id)
            self.plot_error = f"{type(error).__name__}: {error}"
            return []

    def rows(self) -> list[dict[str, Any]]:
        """The runs with their fitted values and residuals (the CSV)."""
        listed = getattr(self.kind, "fitted_values", None)
        if listed is None or self.restored is None or self.fit.status != "done":
            return [{"run_id": r.id} for r in self.runs]
        return list(listed(self.fit, self.restored, self.runs))

    def parameters(self) -> list[dict[str, Any]]:
        """The headline parameters with their 95% intervals, as rows name, value, lo, hi."""
        intervals = self.fit.ci95 or {}
        return [
            {
                "name": name,
                "value": value,
                "lo": (intervals.get(name) or [None, None])[0],
                "hi": (intervals.get(name) or [None, None])[1],
            }
            for name, value in (self.fit.params or {}).items()
        ]

    def bootstrap(self) -> dict[str, Any]:
        """Replicates asked for, converged and failed, and each parameter's draw summary."""
        result = self.fit.result or {}
        summary: dict[str, Any] = {
            "requested": self.fit.bootstrap,
            "converged": None,
            "failed": result.get("n_failed_replicates"),
            "seed": self.fit.seed,
            "level": LEVEL,
            "parameters": {},
        }
        draws = getattr(self.restored, "draws", None)
        names = getattr(self.restored, "param_names", None)
        if draws is not None and names is not None and getattr(draws, "ndim", 0) == 2:
            summary["converged"] = int(draws.shape[0])
            for i, name in enumerate(names):
                column = draws[:, i]
                if column.size:
                    summary["parameters"][name] = {
                        "mean": float(column.mean()),
                        "sd": float(column.std(ddof=1)) if column.size > 1 else None,
                        "median": float(np.quantile(column, 0.5)),
                        "lo": float(np.quantile(column, (1 - LEVEL) / 2)),
                        "hi": float(np.quantile(column, (1 + LEVEL) / 2)),
                    }
        return summary


@dataclass
class Report:
    """A report of one fit or of a study's latest fits, with the prediction at a target when asked."""

    title: str
    study: Study
    sections: list[Section]
    prediction: dict[str, Any] | None = None
    prediction_error: str | None = None
    target: dict[str, Any] | None = None
    version: str = field(default_factory=version)
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def parametrization(self) -> str:
        """The study's parametrization and base width in words (app.parametrization.describe)."""
        return describe(self.study.parametrization, self.study.base_d_model)

    @property
    def unusable(self) -> list[Section]:
        return [s for s in self.sections if not s.verdict.usable]


def verdict(fit: Fit, restored: Any) -> Verdict:
    """Whether `fit` can be used, from its status and its warnings, in words a reader acts on."""
    if fit.status == "failed":
        return Verdict("unusable", [f"the fit failed: {fit.error or 'no error recorded'}"])
    if fit.status != "done":
        return Verdict("unusable", [f"the fit is {fit.status}: it has no result yet"])
    warnings = [str(w) for w in fit.warnings or []]
    reasons = [w for w in warnings if any(mark in w for mark in UNUSABLE_MARKS)]
    result = fit.result or {}
    failed, asked = result.get("n_failed_replicates") or 0, fit.bootstrap or 0
    if asked and failed > FAILED_SHARE * asked:
        reasons.append(f"{failed} of {asked} bootstrap replicates failed: its intervals are not reliable")
    if reasons:
        return Verdict("unusable", reasons)
    cautions = []
    if getattr(restored, "converged", True) is False:
        cautions.append(
            "the optimiser's convergence test failed for the point estimate: compare it with the "
            "bootstrap median before relying on it"
        )
    if not fit.ci95:
        cautions.append(
            "no bootstrap intervals (bootstrap 0 or too few replicates): the estimates carry no uncertainty"
        )
    return Verdict("caution", cautions) if cautions else Verdict("usable")


def _section(session, fit: Fit, restored: Any = None) -> Section:
    kind = law_kinds.for_law(fit.law)
    if restored is None and fit.status == "done" and fit.result is not None and kind is not None:
        restored = kind.restore(fit.result)
    runs = runs_module.fittable_runs(session=session, study_id=fit.study_id, run_ids=fit.run_ids or [])
    return Section(fit, kind, restored, runs, verdict(fit, restored))


def fit_report(database, fit_id: int) -> Report:
    """The report of one fit; NotFound for an unknown id."""
    with database.transaction(immediate=False) as session:
        fit = fits.get_fit(session=session, fit_id=fit_id)
        study = studies.get_study(session=session, study_id=fit.study_id)
        section = _section(session, fit)
    return Report(f"Fit {fit.id} of study {study.name}: {fit.law}", study, [section])


def study_report(
    database,
    study_ref: int | str,
    *,
    n_params: float | None = None,
    tokens: float | None = None,
    batch: float | None = None,
    optimizer: str = "adam",
) -> Report:
    """The study's latest finished fit of every law kind, in registry order, and with n_params and
    tokens its prediction there (app/predictions.py), with batch the LR at that batch too. NotFound
    for an unknown study; InvalidInput as check_target says."""
    target = check_target(n_params, tokens, batch, optimizer)
    with database.transaction(immediate=False) as session:
        study = studies.find_study(session=session, ref=study_ref)
        try:
            found, stored = predictions.load(session=session, study_ref=study.id)
        except InvalidInput:  # no finished fit yet: a report of the study's runs alone
            found, stored = None, {}
        sections = []
        for kind in law_kinds.KINDS:
            for slot in kind.slots:
                if slot in stored:
                    fit = fits.get_fit(session=session, fit_id=stored[slot].fit_id)
                    sections.append(_section(session, fit, stored[slot].restored))
    report = Report(f"Study {study.name}", study, sections, target=target)
    if target is not None:
        if found is None:
            report.prediction_error = f"study {study.name!r} has no finished fit to predict from"
        else:
            try:
                report.prediction = json_safe(predictions.answer(found, stored, **target))
            except InvalidInput as error:
                report.prediction_error = str(error)
    return report


def check_target(
    n_params: float | None, tokens: float | None, batch: float | None = None, optimizer: str = "adam"
) -> dict[str, Any] | None:
    """The target of a study report's prediction: both or neither of n_params and tokens, and
    optionally a batch size (tokens) and optimizer for the LR at that batch (predictions.answer's)."""
    if batch is not None and (n_params is None or tokens is None):
        raise InvalidInput("batch is for a prediction: give n_params and tokens too", field="batch")
    if n_params is None and tokens is None:
        return None
    if n_params is None or tokens is None:
        missing = "tokens" if tokens is None else "n_params"
        raise InvalidInput(f"a prediction needs both n_params and tokens: give {missing} too", field=missing)
    for name, value in (("n_params", n_params), ("tokens", tokens), ("batch", batch)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InvalidInput(f"{name} must be a positive number, got {value:g}", field=name)
    target: dict[str, Any] = {"n_params": float(n_params), "tokens": float(tokens)}
    if batch is not None:
        if optimizer not in lr_at_batch.OPTIMIZERS:
            raise InvalidInput(
                f"optimizer {optimizer!r} is unknown: use one of {', '.join(lr_at_batch.OPTIMIZERS)}",
                field="optimizer",
            )
        target.update(batch=float(batch), optimizer=optimizer)
    return target


__all__ = ["Report", "Section", "Verdict", "check_target", "fit_report", "study_report", "verdict"]
