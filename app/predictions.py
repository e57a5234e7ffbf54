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

import json
import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app import fits, studies
from app.errors import InvalidInput

KINDS = ("loss", "lr_opt", "batch_opt", "critical_batch")
# Hoffmann et al.'s approaches 1 and 2: shown beside approach 3 when fitted, never asked for.
FRONTIER_KINDS = ("frontier_envelope", "frontier_isoflop")
ALL_KINDS = (*KINDS, *FRONTIER_KINDS)
# Warn beyond this factor in compute past the largest fitted run (extrapolating two orders of
# magnitude is where published laws start to disagree).
EXTRAPOLATION_WARNING = 100.0
LEVEL = 0.95
# The law to POST for a missing kind: "auto" picks the loss law with the best held-out error.
_FIT_REQUEST = {
    "loss": "auto",
    "lr_opt": "lr_opt",
    "batch_opt": "batch_opt",
    "critical_batch": "critical_batch",
}


@dataclass(frozen=True)
class StudyFits:
    """Which fits answer for a study: its id, name, seq_len from its defaults, the latest fit id per kind."""

    study_id: int
    study_name: str
    seq_len: float | None
    fit_ids: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredFit:
    """A restored fit and the context stored beside it (seq_len, the runs' scale, noise-scale check)."""

    fit_id: int
    restored: Any
    context: dict[str, Any]


def latest_fits(*, session: Session, study_ref: str | int, loss_law: str | None = None) -> StudyFits:
    """The study (by id or name) and its latest finished fit per kind; InvalidInput when there is none
    (or none of the requested loss law)."""
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
    return StudyFits(study.id, study.name, float(seq_len) if seq_len else None, fit_ids)


def restore(fit_id: int, result: dict[str, Any]) -> StoredFit:
    """A stored fit's result as a fitting object (Fit, OptimumFit or CriticalBatchCurve)."""
    import fitting

    return StoredFit(fit_id, fitting.load_fit(result), dict(result.get("context") or {}))


def load(*, session: Session, study_ref: str | int, loss_law: str | None = None) -> tuple[StudyFits, dict]:
    """latest_fits and every one of them restored: the uncached path (the CLI's)."""
    found = latest_fits(session=session, study_ref=study_ref, loss_law=loss_law)
    stored = {
        kind: restore(fit_id, fits.get_fit(session=session, fit_id=fit_id).result)
        for kind, fit_id in found.fit_ids.items()
    }
    return found, stored


def _interval(estimate: Any, scale: float = 1.0) -> dict[str, float | None]:
    def plain(x: Any) -> float | None:
        x = float(x) * scale
        return x if math.isfinite(x) else None  # NaN (no bootstrap draws) -> null

    return {"value": plain(estimate.value), "lo": plain(estimate.lo), "hi": plain(estimate.hi)}


def _exact(value: float) -> dict[str, float]:
    return {"value": value, "lo": value, "hi": value}


def _beyond(kind: str, compute: float, largest: float | None) -> list[str]:
    if largest and compute > EXTRAPOLATION_WARNING * largest:
        return [
            f"{kind}: compute {compute:.3g} is {compute / largest:.0f}x beyond the largest fitted run "
            f"({largest:.3g}): the interval does not cover the law's own error at that scale"
        ]
    return []


def answer(
    found: StudyFits, stored: dict[str, StoredFit], *, n_params: float, tokens: float
) -> dict[str, Any]:
    """The prediction for (n_params, tokens) as a JSON-ready dict (PredictPublic's shape).

    Raises InvalidInput when a law refuses the inputs.
    """
    compute = 6.0 * n_params * tokens  # C ≈ 6ND training FLOPs (Kaplan et al. 2020, §2.1)
    warnings: list[str] = []
    for kind in KINDS:
        if kind not in stored:
            warnings.append(
                f"no {kind} fit for this study: POST /v1/studies/{found.study_id}/fits "
                + json.dumps({"law": _FIT_REQUEST[kind]})
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
        "fit_ids": {kind: s.fit_id for kind, s in stored.items()},
        "warnings": warnings,
    }
    loss = None
    try:
        if "loss" in stored:
            loss = _loss(stored["loss"], n_params, tokens, compute, out, warnings)
        for kind in ("lr_opt", "batch_opt"):
            if kind in stored:
                _optimum(kind, stored[kind], found, n_params, tokens, compute, out, warnings)
    except ValueError as error:
        raise InvalidInput(str(error), field="n_params") from error
    if "critical_batch" in stored:
        _critical_batch(stored["critical_batch"], loss, compute, out, warnings)
    _approaches(stored, compute, out, warnings)
    return out


def _approaches(stored: dict[str, StoredFit], compute: float, out: dict, warnings: list[str]) -> None:
    """N_opt, D_opt at this compute by approaches 1 and 2 beside approach 3, and a warning when
    their N_opt intervals do not overlap (the approaches disagree: trust none of them blindly)."""
    found = [kind for kind in FRONTIER_KINDS if kind in stored]
    if not found:
        return
    approaches: dict[str, Any] = {"approach_1": None, "approach_2": None, "approach_3": None}
    if out["compute_optimal"] is not None:
        approaches["approach_3"] = {**out["compute_optimal"], "fit_id": out["fit_ids"].get("loss")}
    for kind in found:
        frontier = stored[kind].restored
        n_opt, d_opt = frontier.predict(compute, LEVEL)
        approaches[f"approach_{frontier.approach}"] = {
            "n_params": _interval(n_opt),
            "tokens": _interval(d_opt),
            "fit_id": stored[kind].fit_id,
        }
        warnings.extend(f"{kind} fit {stored[kind].fit_id}: {w}" for w in frontier.warnings)
        warnings.extend(
            _beyond(kind, compute, stored[kind].context.get("input_ranges", {}).get("C", [0, 0])[1])
        )
    out["compute_optimal_approaches"] = approaches
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


def _loss(
    stored: StoredFit, n_params: float, tokens: float, compute: float, out: dict, warnings: list[str]
) -> Any:
    import fitting

    fit = stored.restored
    if fit.variable:
        inputs = {fit.variable: {"N": n_params, "D": tokens, "C": compute}.get(fit.variable, compute)}
    else:
        inputs = {"N": n_params, "D": tokens}
    estimate = fit.predict(level=LEVEL, **inputs)
    out["loss"] = _interval(estimate)
    out["fit_id"], out["law"] = stored.fit_id, fit.law
    warnings.extend(f"loss fit {stored.fit_id}: {w}" for w in fit.warnings)
    ranges = fit.input_ranges
    if "N" in ranges and "D" in ranges:
        warnings.extend(_beyond("loss", compute, 6.0 * ranges["N"][1] * ranges["D"][1]))
    elif "C" in ranges:
        warnings.extend(_beyond("loss", compute, ranges["C"][1]))
    if tuple(fit.inputs) == ("N", "D"):
        try:
            allocation = fitting.optimal_allocation(fit, compute, level=LEVEL)
        except ValueError as error:  # e.g. a budget too small for any model: the rest still answers
            warnings.append(f"compute_optimal: {error}")
            return estimate
        out["compute_optimal"] = {
            "n_params": _interval(allocation.n_params),
            "tokens": _interval(allocation.tokens),
        }
        warnings.extend(f"compute_optimal: {w}" for w in allocation.warnings)
    else:
        warnings.append(f"compute_optimal: the loss fit is a law of {fit.inputs[0]} alone, not of N and D")
    return estimate


def _optimum(
    kind: str,
    stored: StoredFit,
    found: StudyFits,
    n_params: float,
    tokens: float,
    compute: float,
    out: dict,
    warnings: list[str],
) -> None:
    fit = stored.restored
    estimate = fit.predict(level=LEVEL, N=n_params, D=tokens)
    warnings.extend(f"{kind} fit {stored.fit_id}: {w}" for w in fit.warnings)
    warnings.extend(_beyond(kind, compute, fit.input_ranges.get("C", (None, None))[1]))
    if kind == "lr_opt":
        out["lr_opt"] = _interval(estimate)
        return
    seq_len = found.seq_len or stored.context.get("seq_len")
    if not seq_len:
        warnings.append(
            "batch_size_opt: the study's sequence length is unknown (no seq_len in its defaults or shared by "
            "its runs), so the batch size is given in tokens only"
        )
    out["batch_size_opt"] = {
        "tokens": _interval(estimate),
        "sequences": _interval(estimate, 1.0 / float(seq_len)) if seq_len else None,
    }


def _critical_batch(stored: StoredFit, loss: Any, compute: float, out: dict, warnings: list[str]) -> None:
    """B_crit at the predicted loss. The interval is the union of the B_crit(L) law's intervals over
    the loss interval, so both the law's and the loss prediction's uncertainty reach it."""
    curve = stored.restored
    warnings.extend(f"critical_batch fit {stored.fit_id}: {w}" for w in curve.warnings)
    warnings.extend(
        _beyond("critical_batch", compute, stored.context.get("input_ranges", {}).get("C", [0, 0])[1])
    )
    if loss is None:
        warnings.append("critical_batch_size: B_crit is a law of the loss, and this study has no loss fit")
        return
    at_value = curve.b_crit(loss.value, LEVEL)
    bounds = [at_value.lo, at_value.hi]
    for edge in (loss.lo, loss.hi):
        if math.isfinite(edge):
            at_edge = curve.b_crit(edge, LEVEL)
            bounds += [at_edge.lo, at_edge.hi]
    finite = [b for b in bounds if math.isfinite(b)]
    out["critical_batch_size"] = {
        "value": float(at_value.value),
        "lo": min(finite) if finite else None,
        "hi": max(finite) if finite else None,
    }
    low, high = curve.loss_range
    if math.isfinite(low) and not low <= loss.value <= high:
        warnings.append(
            f"critical_batch_size: the predicted loss {loss.value:.4g} is outside the target losses the "
            f"B_crit(L) law was fitted on ({low:.4g} to {high:.4g}): B_crit is extrapolated"
        )
