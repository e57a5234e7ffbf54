"""Fits: start a fit of a study (inline, or in the background for large bootstraps), get one (with
its progress), cancel one.

Any law of a registered law kind (app/law_kinds/): a loss law, "lr_opt" / "batch_opt" (with their
form and window), "critical_batch" or a frontier.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from app import fits, studies
from app.api.deps import DatabaseDep, ReadAccess, SessionDep, SettingsDep, WriteAccess
from app.api.schemas import MAX_ID, MAX_OFFSET, Created, FitCreate, FitList, FitPublic
from app.worker import fit_jobs

router = APIRouter(prefix="/v1", tags=["fits"])
StudyId = Annotated[int, Path(ge=1, le=MAX_ID, description="The study's id.")]
FitId = Annotated[int, Path(ge=1, le=MAX_ID, description="The fit's id.")]


@router.post(
    "/studies/{study_id}/fits",
    status_code=201,
    response_model=Created,
    dependencies=[WriteAccess],
    responses={
        202: {
            "model": Created,
            "description": "Accepted: the fit is queued for a fit worker; poll GET /v1/fits/{id}.",
        }
    },
)
def create_fit(
    study_id: StudyId,
    body: FitCreate,
    request: Request,
    response: Response,
    database: DatabaseDep,
    settings: SettingsDep,
) -> Created:
    """Fit a law to the study's finished runs; 201 when done inline, 202 when queued for a fit worker
    (any API process or worker pool: the job queue's lease and heartbeat, as for runs), or when this
    server began shutting down while computing it inline (it is queued again)."""
    inline = body.bootstrap <= settings.fit_inline_max_bootstrap
    fit_id, holder = fit_jobs.queue_fit(database, study_id=study_id, inline=inline, **body.request())
    if holder is None:
        response.status_code = 202  # queued: a FitWorker claims it
    else:
        status = fit_jobs.run_held(
            database,
            settings,
            fit_id,
            holder,
            on_done=request.app.state.metrics.observe_fit,
            stop=request.app.state.stopping,
        )
        request.app.state.predictor.forget_study(study_id)
        if status == "queued":  # shutting down: another process computes it
            response.status_code = 202
    return Created(id=fit_id)


@router.get("/fits/{fit_id}", response_model=FitPublic, dependencies=[ReadAccess])
def get_fit(fit_id: FitId, session: SessionDep) -> FitPublic:
    """A fit's status and, once done, its parameters, 95% intervals and diagnostics."""
    return FitPublic.of(fits.get_fit(session=session, fit_id=fit_id))


@router.post(
    "/fits/{fit_id}/cancel",
    response_model=FitPublic,
    dependencies=[WriteAccess],
    responses={409: {"description": "The fit is already done or failed."}},
)
def cancel_fit(fit_id: FitId, database: DatabaseDep) -> FitPublic:
    """Cancel a queued or running fit: it ends `cancelled` and its worker stops at its next batch of
    bootstrap replicates. A cancelled fit stays so (200); a done or failed one is a 409."""
    with database.transaction() as session:
        return FitPublic.of(fits.cancel_fit(session=session, fit_id=fit_id))


@router.get("/studies/{study_id}/fits", response_model=FitList, dependencies=[ReadAccess])
def list_fits(
    study_id: StudyId,
    session: SessionDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> FitList:
    """One page of the study's fits, oldest first, with the total (as GET /v1/studies and /v1/runs)."""
    studies.get_study(session=session, study_id=study_id)
    rows = fits.list_fits(session=session, study_id=study_id, limit=limit, offset=offset)
    total = fits.count_fits(session=session, study_id=study_id)
    return FitList(items=[FitPublic.of(f) for f in rows], total=total, limit=limit, offset=offset)
