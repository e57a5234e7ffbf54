"""The answer to "a model of N parameters trained on D tokens": loss, learning rate, batch size,
critical batch size and the compute-optimal split, each with its 95% interval, from a study's
latest stored fit of each law (restored with fitting.load_fit, never refitted).

One code path for GET /v1/predict and `hyperlaw predict`: `latest_fits` finds the fits (one
query), `restore` turns a stored row into a StoredFit, `answer` computes the JSON-ready answer.
A law not fitted yet gives a null field and a warning naming the request that fits it; a study
with no fit of any law is an InvalidInput. The loss is not needed for the LR and batch-size laws
(they are laws of N and D), so they are answered without a loss fit; the critical batch size is a
law of the loss, so it needs the predicted loss. With a batch size, the answer adds the LR at that
batch (app/lr_at_batch.py). Warnings come with the fits: a stale fit, and runs that mix
parametrizations (sp and μP), read once when the fits are found.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import MutableMapping, Sequence
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

import fitting
from app import fits, law_kinds, lr_at_batch, studies
from app import runs as runs_module
from app.db.tables import Run
from app.errors import InvalidInput
from app.law_kinds import Query, StoredFit, StudyFits

__all__ = [
    "FitRuns",
    "FoundFits",
    "StoredFit",
    "StudyFits",
    "answer",
    "latest_fits",
    "load",
    "prediction_rows",
    "restore",
]


@dataclasses.dataclass(frozen=True)
class FoundFits(StudyFits):
    """StudyFits and, when read, the stale-fit warnings of its fits (`stale_warnings`), the
    mixed-parametrization warnings (`parametrization_warnings`) and the distinct batch sizes of the
    lr_opt fit's runs (None: no lr_opt fit), which say where its LR optimum was measured."""

    stale: tuple[str, ...] = ()
    mixed: tuple[str, ...] = ()
    lr_batches: tuple[float | None, ...] | None = None


def stale_warnings(
    *,
    session: Session,
    study_id: int,
    fit_ids: dict[str, int],
    memo: MutableMapping[tuple[Any, ...], str | None] | None = None,
) -> list[str]:
    """A warning for each fit that no longer covers the study's runs: one made on every finished run
    (not a chosen subset) while runs it would use have finished since. "Would use" is what its kind
    selects for its law and options now (a loss fit: finished runs with a loss; an LR fit: those with
    an LR; each kind's own minimum of curve points), so failed, cancelled or unusable runs never make
    a fit stale. Says how many of those runs the fit rests on, and the refit to ask for.

    `memo` keeps each fit's verdict by (fit id, count and latest finish of the runs finished since it):
    the selection reads every run of the study (a minute at 10^6 runs), so it runs again only when
    another run has finished, not on every cache miss of the predict route."""
    warnings = []
    for slot, fit_id in fit_ids.items():
        fit = fits.get_fit(session=session, fit_id=fit_id)
        if (fit.run_filter or {}).get("run_ids") is not None:
            continue  # the fit was asked for on chosen runs: later ones are not its business
        newer, newest = session.execute(
            select(func.count(), func.max(Run.finished_at)).where(
                Run.study_id == study_id,
                Run.status == "done",
                Run.loss.is_not(None),
                Run.finished_at > fit.created_at,
            )
        ).one()
        if not newer:
            continue  # one count per fit on the common path; the selection below only when it may be stale
        key = (fit_id, newer, newest)
        if memo is not None and key in memo:
            if memo[key] is not None:
                warnings.append(memo[key])
            continue
        warning = _stale_warning(session, study_id, slot, fit)
        if memo is not None:
            memo[key] = warning
        if warning is not None:
            warnings.append(warning)
    return warnings


def _stale_warning(session: Session, study_id: int, slot: str, fit: Any) -> str | None:
    """The stale warning of one fit when runs its law would use now are missing from it, else None."""
    options = fits.options_of(fit)
    request = law_kinds.FitRequest(study_id=study_id, law=fit.law, options=options)
    try:
        would_use = {run.id for run in fits.kind_of(fit.law).select(session=session, request=request)}
    except InvalidInput:
        return None  # too few runs for a fit now: nothing newer it would rest on
    used = set(fit.run_ids or [])
    if not would_use - used:
        return None
    return (
        f"stale fit: the {slot} fit {fit.id} rests on {len(would_use & used)} of the {len(would_use)} "
        f"runs a {fit.law} fit would use now ({len(would_use - used)} not in it): refit with "
        f"POST /v1/studies/{study_id}/fits " + json.dumps({"law": fit.law, **options})
    )


def _parametrization(study_parametrization: str) -> Any:
    """A run's parametrization as SQL: its spec's; "sp" (the trainer's default) for a trained run whose
    spec names none (from before the field); the study's own for a run with no spec at all (imported:
    the study's parametrization is the label of how its runs were trained)."""
    trained = func.coalesce(Run.spec["parametrization"].as_string(), "sp")
    return case((Run.spec.is_(None), study_parametrization), else_=trained)


def _counts(
    session: Session, study_id: int, run_ids: Sequence[int] | None, *columns: Any
) -> dict[tuple, int]:
    """How many of the runs `run_ids` (None: the study's finished runs with a loss) have each tuple of
    values of `columns` (Run columns or expressions)."""
    where = [Run.study_id == study_id]
    if run_ids is None:
        where += [Run.status == "done", Run.loss.is_not(None)]
    elif len(run_ids) > runs_module.MAX_IN_IDS:
        wanted = set(run_ids)
        counts: dict[tuple, int] = {}
        for run_id, *values in session.execute(select(Run.id, *columns).where(*where)):
            if run_id in wanted:
                counts[tuple(values)] = counts.get(tuple(values), 0) + 1
        return counts
    else:
        where.append(Run.id.in_(sorted(set(run_ids))))
    rows = session.execute(select(*columns, func.count()).where(*where).group_by(*columns))
    return {tuple(values): count for *values, count in rows}


@dataclasses.dataclass(frozen=True)
class FitRuns:
    """What a prediction needs of the runs a fit rests on, fixed once the fit is made (so a caller may
    keep it by fit id): how many of each parametrization, their distinct batch sizes in tokens
    (None: a run without one), and how many at each output multiplier (alpha_output)."""

    parametrizations: dict[str, int]
    batches: tuple[float | None, ...]
    output_multipliers: dict[float, int] = dataclasses.field(default_factory=dict)


def fit_runs(*, session: Session, fit_id: int) -> FitRuns:
    """The FitRuns of a fit: one grouped query over its runs."""
    fit = fits.get_fit(session=session, fit_id=fit_id)
    study = studies.get_study(session=session, study_id=fit.study_id)
    counts = _counts(
        session,
        fit.study_id,
        fit.run_ids or None,
        _parametrization(study.parametrization),
        Run.batch_tokens,
        _OUTPUT_MULTIPLIER,
    )
    parametrizations: dict[str, int] = {}
    multipliers: dict[float, int] = {}
    for (name, _batch, multiplier), n in counts.items():
        parametrizations[name] = parametrizations.get(name, 0) + n
        multipliers[float(multiplier)] = multipliers.get(float(multiplier), 0) + n
    return FitRuns(parametrizations, tuple({batch for _, batch, _ in counts}), multipliers)


# A run's output multiplier as SQL: its spec's, else the trainer's default 1 (a run from before the
# field, or an imported one).
_OUTPUT_MULTIPLIER = func.coalesce(Run.spec["output_multiplier"].as_float(), 1.0)


# How a run's parametrization is counted (_parametrization), as the warnings say it.
_COUNTED = "an imported run has its study's; a trained run that names none is sp"


def _described(counts: dict[str, int]) -> str:
    return " and ".join(f"{n} {name}" for name, n in sorted(counts.items()))


def multiplier_warnings(*, study_id: int, fit_ids: dict[str, int], runs: dict[int, FitRuns]) -> list[str]:
    """A warning for each fit whose runs were trained at different output multipliers (alpha_output):
    the logits' multiplier changes the model and where its LR optimum lies (Tensor Programs V tunes it
    with the LR), so a law across several describes none of them."""
    warnings = []
    for slot, fit_id in fit_ids.items():
        counts = runs[fit_id].output_multipliers
        if len(counts) > 1:
            described = " and ".join(f"{n} at {value:g}" for value, n in sorted(counts.items()))
            warnings.append(
                f"mixed output multipliers: the {slot} fit {fit_id} rests on runs trained at different "
                f"output_multiplier values ({described}; a run that names none is at 1); the multiplier changes "
                "the model and its optimal LR, so a law across them describes none: refit on one multiplier's runs "
                f"(run_ids in POST /v1/studies/{study_id}/fits)"
            )
    return warnings


def parametrization_warnings(
    *, study_id: int, fit_ids: dict[str, int], runs: dict[int, FitRuns]
) -> list[str]:
    """A warning for each fit whose runs mix parametrizations (the `parametrization` of their specs:
    "sp", "mup"), else one when the fits rest on different ones: the optimal LR of sp and μP runs
    differ (Yang et al. 2022), so an LR law across both means nothing. `runs`: FitRuns by fit id."""
    warnings, single = [], {}
    for slot, fit_id in fit_ids.items():
        counts = runs[fit_id].parametrizations
        if len(counts) > 1:
            warnings.append(
                f"mixed parametrizations: the {slot} fit {fit_id} rests on {_described(counts)} runs ({_COUNTED}); "
                "sp and μP runs have different LR optima, so an LR law across both is not meaningful: refit on "
                f"one parametrization's runs (run_ids in POST /v1/studies/{study_id}/fits)"
            )
        elif counts:
            single[slot] = next(iter(counts))
    if warnings or len(set(single.values())) < 2:
        return warnings
    rests = ", ".join(f"{slot} on {name}" for slot, name in single.items())
    return [
        f"mixed parametrizations: the fits used rest on runs of different parametrizations ({rests}; {_COUNTED}); "
        "sp and μP runs have different LR optima, so the answer mixes laws of two kinds of model: fit every "
        f"law on one parametrization's runs (run_ids in POST /v1/studies/{study_id}/fits)"
    ]


def latest_fits(
    *,
    session: Session,
    study_ref: str | int,
    loss_law: str | None = None,
    memo: MutableMapping[int, FitRuns] | None = None,
    stale_memo: MutableMapping[tuple[Any, ...], str | None] | None = None,
) -> FoundFits:
    """The study (by id or name) and its latest finished fit per slot, with a warning for each that is
    stale (`stale_warnings`) and for mixed parametrizations; InvalidInput when there is none (or none of
    the requested loss law). `memo`: FitRuns by fit id, read and filled (a fit's runs never change);
    `stale_memo`: stale_warnings' memo."""
    study = studies.find_study(session=session, ref=study_ref)
    fit_ids = fits.latest_fit_ids(session=session, study_id=study.id, loss_law=loss_law)
    if loss_law is not None and "loss" not in fit_ids:
        raise InvalidInput(
            f"study {study.name!r} has no finished fit of law {loss_law}: POST /v1/studies/{study.id}/fits first",
            field="law",
        )
    if not fit_ids:
        raise InvalidInput(
            f"study {study.name!r} has no finished fit: POST /v1/studies/{study.id}/fits first", field="study"
        )
    seq_len = (study.defaults or {}).get("seq_len")
    stale = tuple(stale_warnings(session=session, study_id=study.id, fit_ids=fit_ids, memo=stale_memo))
    memo = {} if memo is None else memo
    for fit_id in fit_ids.values():
        if fit_id not in memo:
            memo[fit_id] = fit_runs(session=session, fit_id=fit_id)
    runs = {fit_id: memo[fit_id] for fit_id in fit_ids.values()}
    mixed = tuple(
        parametrization_warnings(study_id=study.id, fit_ids=fit_ids, runs=runs)
        + multiplier_warnings(study_id=study.id, fit_ids=fit_ids, runs=runs)
    )
    lr_batches = runs[fit_ids["lr_opt"]].batches if "lr_opt" in fit_ids else None
    return FoundFits(
        study.id, study.name, float(seq_len) if seq_len else None, fit_ids, stale, mixed, lr_batches
    )


def restore(fit_id: int, law: str, result: dict[str, Any]) -> StoredFit:
    """A stored fit's result as its kind's result object, with the context stored beside it."""
    return StoredFit(fit_id, fits.kind_of(law).restore(result), dict(result.get("context") or {}))


def load(*, session: Session, study_ref: str | int, loss_law: str | None = None) -> tuple[StudyFits, dict]:
    """latest_fits and every one of them restored: the uncached path (the CLI's)."""
    found = latest_fits(session=session, study_ref=study_ref, loss_law=loss_law)
    stored = {}
    for slot, fit_id in found.fit_ids.items():
        row = fits.get_fit(session=session, fit_id=fit_id)
        stored[slot] = restore(fit_id, row.law, row.result)
    return found, stored


def _exact(value: float) -> dict[str, float]:
    return {"value": value, "lo": value, "hi": value}


def answer(
    found: StudyFits,
    stored: dict[str, StoredFit],
    *,
    n_params: float,
    tokens: float,
    batch: float | None = None,
    optimizer: str = "adam",
) -> dict[str, Any]:
    """The prediction for (n_params, tokens) as a JSON-ready dict (PredictPublic's shape): every law
    kind, in registry order, adds its part from its restored fits; with `batch` (tokens), the LR at
    that batch for `optimizer` ("adam" or "sgd") as `lr_at_batch`.

    Raises InvalidInput (naming n_params) when a law refuses the inputs or when they are so far out
    that a number of the answer is not finite: an answer is valid JSON or it is not given.
    """
    for name, value in (("n_params", n_params), ("tokens", tokens), ("batch", batch)):
        if value is not None and not (math.isfinite(value) and value > 0):
            unit = " (tokens)" if name == "batch" else ""
            raise InvalidInput(f"{name}{unit} ({value}) must be a positive finite number", field=name)
    if optimizer not in lr_at_batch.OPTIMIZERS:
        raise InvalidInput(
            f"optimizer {optimizer!r} is unknown: use one of {', '.join(lr_at_batch.OPTIMIZERS)}",
            field="optimizer",
        )
    if not math.isfinite(6.0 * n_params * tokens):  # 6·N·D, before numpy warns of the overflow
        raise InvalidInput(
            f"n_params × tokens ({n_params:.3g} × {tokens:.3g}) overflows: the compute 6·N·D is beyond "
            "floating point; ask for a model and data within reach of the fits",
            field="n_params",
        )
    compute = float(fitting.training_compute(n_params, tokens))
    warnings: list[str] = [*getattr(found, "stale", ()), *getattr(found, "mixed", ())]
    for kind in law_kinds.KINDS:
        for slot, law in kind.expected.items():
            if slot not in stored:
                warnings.append(
                    f"no {slot} fit for this study: POST /v1/studies/{found.study_id}/fits "
                    + json.dumps({"law": law})
                )
    out: dict[str, Any] = {
        "study": found.study_id,
        "n_params": n_params,
        "tokens": tokens,
        "loss": None,
        "lr_opt": None,
        "batch_size_opt": None,
        "critical_batch_size": None,
        "lr_at_batch": None,
        "compute": _exact(compute),
        "tokens_per_param": _exact(tokens / n_params),
        "compute_optimal": None,
        "compute_optimal_approaches": None,
        "fit_id": None,
        "law": None,
        "fit_ids": {slot: s.fit_id for slot, s in stored.items()},
        "warnings": warnings,
    }
    query = Query(found, n_params, tokens, compute, out, warnings)
    for kind in law_kinds.KINDS:
        for key in kind.answer_keys:
            out.setdefault(key, None)
        kind.predict({slot: stored[slot] for slot in kind.slots if slot in stored}, query)
    if batch is not None:
        out["lr_at_batch"] = _at_batch(found, stored, out, batch, optimizer, warnings)
    if "loss" in stored:
        warnings.extend(_below_range(stored["loss"].restored, n_params, tokens, compute))
    where = _not_finite(out)
    if where is not None:
        raise InvalidInput(
            f"the prediction's {where} at n_params={n_params:.3g}, tokens={tokens:.3g} is not a finite number: "
            "the inputs are too far outside the fitted runs for the laws to answer; ask for values nearer them",
            field="n_params",
        )
    return out


def _at_batch(
    found: StudyFits,
    stored: dict[str, StoredFit],
    out: dict[str, Any],
    batch: float,
    optimizer: str,
    warnings: list[str],
) -> dict[str, Any] | None:
    """The answer's lr_at_batch: the LR law's optimum carried to `batch` from its reference batch."""
    lr_fit = stored.get("lr_opt")
    reference = seq_len = None
    if lr_fit is not None:
        batches = getattr(found, "lr_batches", None) or ()
        reference = lr_at_batch.reference_of(lr_fit.restored, tuple(batches), lr_fit.fit_id)
        seq_len = found.seq_len or lr_fit.context.get("seq_len")
    return lr_at_batch.lr_at_batch(
        batch=batch, optimizer=optimizer, answer=out, reference=reference, seq_len=seq_len, warnings=warnings
    )


def _below_range(fit: Any, n_params: float, tokens: float, compute: float) -> list[str]:
    """A warning for each input of the loss law below the smallest fitted value: a law fitted on
    larger runs says little about smaller ones (its irreducible and power terms trade off there)."""
    ranges = getattr(fit, "input_ranges", None) or {}
    asked = {"N": ("n_params", n_params), "D": ("tokens", tokens), "C": ("compute", compute)}
    warnings = []
    for symbol, (name, value) in asked.items():
        if symbol in ranges and value < ranges[symbol][0]:
            low, high = ranges[symbol]
            warnings.append(
                f"loss: {name} ({value:.3g}) is below the fitted range ({low:.3g} to {high:.3g}): the law is "
                "extrapolated downwards and the interval does not cover that"
            )
    return warnings


def _not_finite(value: Any, path: str = "") -> str | None:
    """The path of the first non-finite number in a JSON-ready value, or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path or "value"
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _not_finite(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def _at_batch_row(moved: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """The LR at the query's batch, labelled with the batch and the rule (none without a batch)."""
    if moved is None:
        return []
    label = f"learning rate at batch {moved['batch']['tokens']:.4g} tokens ({moved['rule']} rule for {moved['optimizer']})"
    return [(label, moved)]


def prediction_rows(answer: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None]]:
    """The predicted quantities a reader wants, each with its 95% interval (None: not fitted), labelled
    as the CLI, the reports and the dashboard show them: the loss twice, prediction and parameter interval."""
    batch = answer.get("batch_size_opt") or {}
    optimal = answer.get("compute_optimal") or {}
    loss = answer.get("loss")
    rows = [
        ("loss (95% prediction interval)", loss),
        (
            "loss (95% parameter interval)",
            {**loss, **loss["parameter"]} if loss and loss.get("parameter") else None,
        ),
        ("learning rate (optimal)", answer.get("lr_opt")),
        ("batch size, tokens (optimal)", batch.get("tokens")),
        ("batch size, sequences (optimal)", batch.get("sequences")),
        ("critical batch size, tokens", answer.get("critical_batch_size")),
        *_at_batch_row(answer.get("lr_at_batch")),
        ("compute, FLOPs (6ND)", answer.get("compute")),
        ("tokens per parameter", answer.get("tokens_per_param")),
        ("compute-optimal N", optimal.get("n_params")),
        ("compute-optimal D", optimal.get("tokens")),
    ]
    for name, found in (answer.get("compute_optimal_approaches") or {}).items():
        if found is not None and name != "approach_3":  # approach 3 is the loss law's, above
            label = name.replace("_", " ")
            rows += [
                (f"compute-optimal N, {label}", found["n_params"]),
                (f"compute-optimal D, {label}", found["tokens"]),
            ]
            if found.get("loss") is not None:  # approach 2's L_opt(C) through its budgets' minima
                rows.append((f"compute-optimal loss, {label}", found["loss"]))
    return rows
