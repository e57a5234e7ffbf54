"""Fits: start a fit of a study (inline, or in the background for large bootstraps), get one.

Any law of app.fits.LAWS: a loss law, "lr_opt" / "batch_opt" (with their form), or "critical_batch".
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request, Response

from app import fits, studies
from app.api.deps import DatabaseDep, ReadAccess, SessionDep, SettingsDep, WriteAccess
from app.api.schemas import Created, FitCreate, FitPublic

router = APIRouter(prefix="/v1", tags=["fits"])


@router.post(
    "/studies/{study_id}/fits",
    status_code=201,
    response_model=Created,
    dependencies=[WriteAccess],
    responses={
        202: {
            "model": Created,
            "description": "Accepted: the fit runs in the background; poll GET /v1/fits/{id}.",
        }
    },
)
def create_fit(
    study_id: int,
    body: FitCreate,
    request: Request,
    response: Response,
    background: BackgroundTasks,
    database: DatabaseDep,
    settings: SettingsDep,
) -> Created:
    """Fit a law to the study's finished runs; 201 when done inline, 202 when it runs in the background."""
    with database.transaction() as session:
        studies.get_study(session=session, study_id=study_id)
        fit_id = fits.create_fit(
            session=session,
            study_id=study_id,
            law=body.law,
            bootstrap=body.bootstrap,
            seed=body.seed,
            run_ids=body.run_ids,
            form=body.form,
            window=body.window,
        ).id
    metrics, predictor = request.app.state.metrics, request.app.state.predictor

    def job() -> None:
        fits.run_fit(database, fit_id, on_done=metrics.observe_fit)
        predictor.forget_study(study_id)

    if body.bootstrap > settings.fit_inline_max_bootstrap:
        background.add_task(job)
        response.status_code = 202
    else:
        job()
    return Created(id=fit_id)


@router.get("/fits/{fit_id}", response_model=FitPublic, dependencies=[ReadAccess])
def get_fit(fit_id: int, session: SessionDep) -> FitPublic:
    """A fit's status and, once done, its parameters, 95% intervals and diagnostics."""
    return FitPublic.of(fits.get_fit(session=session, fit_id=fit_id))


@router.get("/studies/{study_id}/fits", response_model=list[FitPublic], dependencies=[ReadAccess])
def list_fits(study_id: int, session: SessionDep) -> list[FitPublic]:
    studies.get_study(session=session, study_id=study_id)
    return [FitPublic.of(f) for f in fits.list_fits(session=session, study_id=study_id)]
