"""The answer to "a model of N parameters trained on D tokens": loss, learning rate, batch size,
critical batch size and the compute-optimal split, each with its 95% interval, from a study's
latest stored fit of each law (restored with fitting.load_fit, never refitted).

One code path for GET /v1/predict and `hyperlaw predict`: `latest_fits` finds the fits (one
query), `restore` turns a stored row into a StoredFit, `answer` computes the JSON-ready answer.
A law not fitted yet gives a null field and a warning naming the request that fits it; a study
with no fit of any law is an InvalidInput. The loss is not needed for the LR and batch-size laws
(they are laws of N and D), so they are answered without a loss fit; the critical batch size is a
law of the loss, so it needs the predicted loss.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import fitting
from app import fits, law_kinds, studies
from app.db.tables import Run
from app.errors import InvalidInput
from app.law_kinds import Query, StoredFit, StudyFits

__all__ = [
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
    """StudyFits and, when read, the stale-fit warnings of its fits (`stale_warnings`)."""

    stale: tuple[str, ...] = ()


def stale_warnings(*, session: Session, study_id: int, fit_ids: dict[str, int]) -> list[str]:
    """A warning for each fit that no longer covers the study's runs: one made on every finished run
    (not a chosen subset) while more runs have finished since, with the counts and the refit to ask for."""
    warnings = []
    for slot, fit_id in fit_ids.items():
        fit = fits.get_fit(session=session, fit_id=fit_id)
        if (fit.run_filter or {}).get("run_ids") is not None:
            continue  # the fit was asked for on chosen runs: later ones are not its business
        newer = session.scalar(
            select(func.count())
            .select_from(Run)
            .where(
                Run.study_id == study_id,
                Run.status == "done",
                Run.loss.is_not(None),
                Run.finished_at > fit.created_at,
            )
        )
        if newer:
            covered = len(fit.run_ids or [])
            warnings.append(
                f"stale fit: the {slot} fit {fit_id} covers {covered} of the study's {covered + newer} finished "
                f"runs ({newer} finished after it): refit with POST /v1/studies/{study_id}/fits "
                + json.dumps({"law": fit.law})
            )
    return warnings


def latest_fits(*, session: Session, study_ref: str | int, loss_law: str | None = None) -> FoundFits:
    """The study (by id or name) and its latest finished fit per slot, with a warning for each that is
    stale (`stale_warnings`); InvalidInput when there is none (or none of the requested loss law)."""
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
    stale = tuple(stale_warnings(session=session, study_id=study.id, fit_ids=fit_ids))
    return FoundFits(study.id, study.name, float(seq_len) if seq_len else None, fit_ids, stale)


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
    found: StudyFits, stored: dict[str, StoredFit], *, n_params: float, tokens: float
) -> dict[str, Any]:
    """The prediction for (n_params, tokens) as a JSON-ready dict (PredictPublic's shape): every law
    kind, in registry order, adds its part from its restored fits.

    Raises InvalidInput (naming n_params) when a law refuses the inputs or when they are so far out
    that a number of the answer is not finite: an answer is valid JSON or it is not given.
    """
    for name, value in (("n_params", n_params), ("tokens", tokens)):
        if not (math.isfinite(value) and value > 0):
            raise InvalidInput(f"{name} ({value}) must be a positive finite number", field=name)
    if not math.isfinite(6.0 * n_params * tokens):  # 6·N·D, before numpy warns of the overflow
        raise InvalidInput(
            f"n_params × tokens ({n_params:.3g} × {tokens:.3g}) overflows: the compute 6·N·D is beyond "
            "floating point; ask for a model and data within reach of the fits",
            field="n_params",
        )
    compute = float(fitting.training_compute(n_params, tokens))
    warnings: list[str] = list(getattr(found, "stale", ()))
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
