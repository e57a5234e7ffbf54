"""Fits: owner of the `fits` table, and the job that computes one.

A fit is created `queued` on a snapshot of a study's finished runs (their ids and a hash
of the data), computed by `run_fit` (reading and writing in short transactions; no
transaction is open while the law is fitted), and stored with `fitting.Fit.to_dict()`,
so a prediction restores it with `fitting.Fit.from_dict` instead of refitting.
Owner functions take the session as a keyword and never commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import runs as runs_module
from app.db.tables import Fit, utcnow
from app.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

LAWS = ("chinchilla", "chinchilla_equal", "kaplan", "power", "auto")
# Fewest runs for a fit: one more than the law's free parameters, so it is not an
# interpolation through every point (chinchilla: E, A, B, α, β; α = β drops one; Kaplan
# joint: N_c, D_c, α_N, α_D; a single power law L = E + A·C^-α: three). `auto` holds out
# the largest scale, so it needs the most.
MIN_RUNS = {"chinchilla": 6, "chinchilla_equal": 5, "kaplan": 5, "power": 4, "auto": 8}


def _data_hash(rows: Sequence[tuple[float, float, float]]) -> str:
    return hashlib.sha256(json.dumps(sorted(rows)).encode()).hexdigest()


def create_fit(
    *,
    session: Session,
    study_id: int,
    law: str,
    bootstrap: int,
    seed: int = 0,
    run_ids: Sequence[int] | None = None,
) -> Fit:
    """Queue a fit of `law` on the study's finished runs (or the given subset of them).

    Too few finished runs is an InvalidInput that says how many more are needed.
    """
    if law not in LAWS:
        raise InvalidInput(f"law {law!r} is unknown: use one of {', '.join(LAWS)}", field="law")
    runs = runs_module.fittable_runs(session=session, study_id=study_id, run_ids=run_ids)
    needed = MIN_RUNS[law]
    if len(runs) < needed:
        raise InvalidInput(
            f"the {law} law needs at least {needed} finished runs with a loss; this study has "
            f"{len(runs)}: {needed - len(runs)} more needed",
            field="runs",
        )
    data = [(runs_module.law_params(r), r.tokens, r.loss) for r in runs]
    fit = Fit(
        study_id=study_id,
        law=law,
        bootstrap=bootstrap,
        seed=seed,
        run_filter={"run_ids": list(run_ids)} if run_ids is not None else {"status": "done"},
        run_ids=[r.id for r in runs],
        data_hash=_data_hash(data),
        n_points=len(runs),
        status="queued",
    )
    session.add(fit)
    session.flush()
    return fit


def get_fit(*, session: Session, fit_id: int) -> Fit:
    fit = session.get(Fit, fit_id)
    if fit is None:
        raise NotFound("fit", fit_id)
    return fit


def latest_fit(*, session: Session, study_id: int, law: str | None = None) -> Fit | None:
    """The study's most recent finished fit (of `law`, when given)."""
    query = select(Fit).where(Fit.study_id == study_id, Fit.status == "done")
    if law is not None:
        query = query.where(Fit.law == law)
    return session.scalar(query.order_by(Fit.id.desc()).limit(1))


def list_fits(*, session: Session, study_id: int) -> list[Fit]:
    return list(session.scalars(select(Fit).where(Fit.study_id == study_id).order_by(Fit.id)))


def fit_data(*, session: Session, fit: Fit) -> dict[str, list[float]]:
    """The snapshot a fit was created on, as arrays for fitting.fit."""
    runs = runs_module.fittable_runs(session=session, study_id=fit.study_id, run_ids=fit.run_ids)
    return {
        "N": [runs_module.law_params(r) for r in runs],
        "D": [r.tokens for r in runs],
        "loss": [r.loss for r in runs],
    }


def start(*, session: Session, fit_id: int) -> bool:
    """Mark a queued fit running; False when someone else took it (one conditional UPDATE,
    so two processes can never both start the same fit)."""
    taken = session.execute(
        update(Fit).where(Fit.id == fit_id, Fit.status == "queued").values(status="running")
    ).rowcount
    if not taken:
        get_fit(session=session, fit_id=fit_id)  # NotFound for an unknown id
    return taken == 1


def complete(*, session: Session, fit_id: int, result: Any) -> Fit:
    """Store a computed fitting.Fit."""
    fit = get_fit(session=session, fit_id=fit_id)
    fit.status = "done"
    fit.law = str(getattr(result, "law", fit.law))
    fit.params = {k: float(v) for k, v in result.params.items()}
    has_draws = len(result.draws) > 0
    fit.ci95 = {k: [float(lo), float(hi)] for k, (lo, hi) in result.ci(0.95).items()} if has_draws else None
    fit.objective = float(result.objective) if result.objective is not None else None
    fit.warnings = [str(w) for w in result.warnings]
    fit.result = result.to_dict()
    fit.finished_at = utcnow()
    return fit


def fail(*, session: Session, fit_id: int, error: str) -> Fit:
    fit = get_fit(session=session, fit_id=fit_id)
    fit.status = "failed"
    fit.error = error
    fit.finished_at = utcnow()
    return fit


def run_fit(database, fit_id: int, *, on_done=None) -> str:
    """Compute a queued fit: read its data, fit with no transaction open, store the result.

    The one broad catch of the fit job: any failure ends as status `failed` with the
    error, never as a fit stuck in `running`. Returns the final status.
    """
    import fitting

    started = time.perf_counter()
    try:
        with database.transaction() as session:
            if not start(session=session, fit_id=fit_id):
                return get_fit(session=session, fit_id=fit_id).status
            fit = get_fit(session=session, fit_id=fit_id)
            law, bootstrap, seed = fit.law, fit.bootstrap, fit.seed
            data = fit_data(session=session, fit=fit)
        if law == "power":  # one input: the compute C = 6·N·D (Kaplan et al. 2020, §2.1)
            inputs = {"C": [6.0 * n * d for n, d in zip(data["N"], data["D"], strict=True)]}
        else:
            inputs = {"N": data["N"], "D": data["D"]}
        result = fitting.fit(law, loss=data["loss"], bootstrap=bootstrap, seed=seed, **inputs)
        with database.transaction() as session:
            complete(session=session, fit_id=fit_id, result=result)
        status = "done"
    except Exception as error:  # the fit job's boundary: always leave a terminal status
        log.exception("fit %s failed", fit_id)
        message = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
        with database.transaction() as session:
            fail(session=session, fit_id=fit_id, error=message)
        status = "failed"
    if on_done is not None:
        on_done(status, time.perf_counter() - started)
    return status
