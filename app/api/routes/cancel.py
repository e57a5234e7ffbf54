"""POST /v1/studies/{id}/runs/cancel: cancel a study's queued and running runs in one request (all
of them, or one sweep's or plan's), the bulk form of POST /v1/runs/{id}/cancel (app/cancel.py)."""

from __future__ import annotations

from fastapi import APIRouter

from app import cancel, studies
from app.api.deps import SessionDep, WriteAccess
from app.api.schemas import Cancelled, RunsCancel

router = APIRouter(prefix="/v1", tags=["runs"])


@router.post(
    "/studies/{study_id}/runs/cancel",
    response_model=Cancelled,
    dependencies=[WriteAccess],
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "examples": {
                        "a study": {"summary": "every queued and running run", "value": {}},
                        "a sweep": {"summary": "by its Idempotency-Key", "value": {"idempotency_key": "k1"}},
                        "a plan": {
                            "summary": "by the ids its submission answered",
                            "value": {"first_id": 12, "last_id": 76},
                        },
                    }
                }
            }
        }
    },
)
def cancel_runs(study_id: int, session: SessionDep, body: RunsCancel | None = None) -> Cancelled:
    """Cancel the study's queued and running runs: all of them, or those a sweep or a plan queued
    (its Idempotency-Key, or its run ids first_id..last_id). Finished runs are left as they are, so
    the answer may count none; running runs stop at their worker's next heartbeat."""
    body = body or RunsCancel()
    study = studies.get_study(session=session, study_id=study_id)
    selection = cancel.Selection(
        idempotency_key=body.idempotency_key, first_id=body.first_id, last_id=body.last_id
    )
    cancelled = cancel.cancel_runs(session=session, study=study, selection=selection)
    return Cancelled(study_id=study.id, count=len(cancelled), ids=[run.id for run in cancelled])
