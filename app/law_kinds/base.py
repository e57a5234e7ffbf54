"""The protocol every law kind implements, and the small types it passes around.

A law kind is everything the service knows about one family of laws: which laws a fit request may
name for it, which finished runs it needs (the minimum comes from `fitting`), how it reads them from
the database, how it fits them (pure, no session open), how its result is stored and restored, and
what it adds to the answer of /v1/predict, and what its section of a report shows (its plots, and
each run's fitted value and residual). app/fits.py, app/predictions.py, app/reports/, the API and
the CLI read kinds only through the registry in app/law_kinds/__init__.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from app.db.tables import Fit

if TYPE_CHECKING:
    from app.runs import FitRun

LEVEL = 0.95
# Warn beyond this factor in compute past the largest fitted run (extrapolating two orders of
# magnitude is where published laws start to disagree).
EXTRAPOLATION_WARNING = 100.0


@dataclass(frozen=True)
class Fitted:
    """What a kind's `fit` returns: the result object, its summary columns and the stored dict.

    law: the law the fit ends as ("auto" stores the form it chose); params / intervals: the
    headline numbers shown in lists (intervals None without a bootstrap); stored: the JSON the
    fit's `result` column keeps (the result's to_dict() with an explicit "kind", plus context).
    """

    law: str
    params: dict[str, float]
    intervals: dict[str, list[float]] | None
    objective: float | None
    warnings: list[str]
    stored: dict[str, Any]


@dataclass(frozen=True)
class StoredFit:
    """A restored fit and the context stored beside it (seq_len, the runs' scale, noise-scale check)."""

    fit_id: int
    restored: Any
    context: dict[str, Any]


@dataclass(frozen=True)
class StudyFits:
    """Which fits answer for a study: its id, name, seq_len from its defaults, the latest fit id per slot."""

    study_id: int
    study_name: str
    seq_len: float | None
    fit_ids: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FitRequest:
    """What a fit is asked for: the study, the law, the runs (None: every finished run) and the
    law's options, checked by its kind."""

    study_id: int
    law: str
    run_ids: Sequence[int] | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plot:
    """One figure of a kind's report section: a short title, the matplotlib Figure (drawn on the Agg
    canvas: no display needed) and a caption saying what to read in it."""

    title: str
    figure: Any
    caption: str = ""


@dataclass
class Query:
    """One prediction being answered: the inputs, the JSON-ready answer the kinds fill in, its
    warnings, and the predicted loss (set by the loss kind, read by kinds that are laws of the loss)."""

    study: StudyFits
    n_params: float
    tokens: float
    compute: float
    answer: dict[str, Any]
    warnings: list[str]
    loss: Any = None


class LawKind(Protocol):
    """One family of laws, in one place (see the module docstring)."""

    name: str
    # The laws POST /v1/studies/{id}/fits accepts for this kind, and the options it takes.
    laws: tuple[str, ...]
    options: tuple[str, ...]
    # The keys of a study's latest fits this kind answers predictions from (e.g. "loss"; one per
    # law for "lr_opt"/"batch_opt"), in the order it predicts them.
    slots: tuple[str, ...]
    # Slots /v1/predict expects and warns about when missing, with the law to POST for each.
    expected: Mapping[str, str]
    # The answer keys this kind fills (so a prediction lists them as null when the kind is unfitted).
    answer_keys: tuple[str, ...]

    def slot(self, law: str) -> str:
        """The slot a stored fit of `law` answers for."""
        ...

    def check_options(self, law: str, options: dict[str, Any]) -> dict[str, Any]:
        """The options with their defaults, or InvalidInput naming the bad one."""
        ...

    def select(self, *, session: Session, request: FitRequest) -> list[FitRun]:
        """The finished runs a fit of `request.law` would use; InvalidInput naming the minimum when too few."""
        ...

    def load(self, *, session: Session, fit: Fit, runs: list[FitRun]) -> Any:
        """Everything the fit needs from the database (arrays, curves), read in the caller's
        transaction. `runs`: the fit's own runs, or, for a kind with the optional method
        `read_runs(session=, fit=)` (one whose answer also describes the study's other runs), what
        that returned (app/fits.py)."""
        ...

    def fit(
        self, data: Any, *, law: str, options: dict[str, Any], bootstrap: int, seed: int, progress: Any = None
    ) -> Fitted:
        """Fit `law` to `data` (no session open); ValueError with a user-facing message on bad data.

        progress: fitting.fit's progress(replicates done, total), for the kinds whose fitting reports
        it between bootstrap batches (loss laws); an exception it raises stops the fit. Optional: a
        kind whose fit does not take it is fitted without (app/fits.py run_fit).
        """
        ...

    def restore(self, stored: dict[str, Any]) -> Any:
        """The result object whose stored dict is `stored`."""
        ...

    def predict(self, stored: Mapping[str, StoredFit], query: Query) -> None:
        """Add this kind's part to `query.answer` (and warnings) from its restored fits, by slot."""
        ...

    def plots(self, fit: Fit, restored: Any, runs: list[FitRun]) -> list[Plot]:
        """The figures of this kind's report section, drawn from the stored fit and the runs it used.

        matplotlib is imported here only (lazily), so serving predictions never loads it.
        """
        ...

    def fitted_values(self, fit: Fit, restored: Any, runs: list[FitRun]) -> list[dict[str, Any]]:
        """Each run the fit used, with the law's fitted value, its interval and the residual where the
        law has one per run (the rows of a report's CSV)."""
        ...


class KindDefaults:
    """The parts most kinds share: one slot named after the kind, no options, restored by fitting."""

    name: str
    options: tuple[str, ...] = ()
    expected: Mapping[str, str] = {}

    def slot(self, law: str) -> str:
        return self.name

    def check_options(self, law: str, options: dict[str, Any]) -> dict[str, Any]:
        return {}

    def restore(self, stored: dict[str, Any]) -> Any:
        import fitting

        return fitting.load_fit(stored)


def interval(estimate: Any, scale: float = 1.0) -> dict[str, float | None]:
    """An Estimate as JSON: value, lo, hi (NaN, as without bootstrap draws, becomes null)."""

    def plain(x: Any) -> float | None:
        x = float(x) * scale
        return x if math.isfinite(x) else None

    return {"value": plain(estimate.value), "lo": plain(estimate.lo), "hi": plain(estimate.hi)}


def beyond(
    kind: str, value: float, largest: float | None, *, quantity: str = "compute", fitted: str = "run"
) -> list[str]:
    """A warning when the query's `quantity` (compute, or tokens for a law of D alone) is far past the
    largest fitted `fitted` (run, or sweep)'s."""
    if largest and value > EXTRAPOLATION_WARNING * largest:
        return [
            f"{kind}: {quantity} {value:.3g} is {value / largest:.0f}x beyond the largest fitted {fitted} "
            f"({largest:.3g}): the interval does not cover the law's own error at that scale"
        ]
    return []


def plain(value: Any) -> float | None:
    """A number as a JSON-ready float, None when it is missing or not finite (an interval without draws)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def run_columns(run: FitRun) -> dict[str, Any]:
    """The columns every kind's fitted-value row starts with: the run, its law N, D, C = 6ND and loss."""
    import fitting
    from app.runs import n_for_laws

    n_params = float(n_for_laws(run))
    return {
        "run_id": run.id,
        "n_params": n_params,
        "tokens": float(run.tokens),
        "compute": float(fitting.training_compute(n_params, run.tokens)),
        "loss": run.loss,
    }


def json_safe(value: Any) -> Any:
    """NaN and infinities to None, recursively (JSON columns refuse them on PostgreSQL)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def estimates_summary(
    estimates: Mapping[str, Any],
) -> tuple[dict[str, float], dict[str, list[float]] | None]:
    """Headline params and 95% intervals from named Estimates (intervals None unless all finite)."""
    params = {k: float(e.value) for k, e in estimates.items()}
    intervals = {k: [float(e.lo), float(e.hi)] for k, e in estimates.items()}
    finite = all(math.isfinite(v) for pair in intervals.values() for v in pair)
    return params, intervals if finite else None


def draws_summary(result: Any) -> tuple[dict[str, float], dict[str, list[float]] | None]:
    """Headline params and 95% percentile intervals of a result with params and bootstrap draws."""
    params = {k: float(v) for k, v in result.params.items()}
    if not len(result.draws):
        return params, None
    return params, {k: [float(lo), float(hi)] for k, (lo, hi) in result.ci(LEVEL).items()}
