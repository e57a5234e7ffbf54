"""/healthz and /metrics (Prometheus text)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text

from app import runs
from app.worker import queue

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    responses={
        200: {"content": {"application/json": {"example": {"status": "ok", "database": "ok"}}}},
        503: {"description": "The database cannot be reached."},
    },
)
def healthz(request: Request):
    """200 {"status": "ok"} when the database answers, else 503."""
    try:
        with request.app.state.database.transaction(immediate=False) as session:
            session.execute(text("SELECT 1"))
    except Exception as error:  # any failure to reach the database means unhealthy
        return JSONResponse(status_code=503, content={"status": "unavailable", "database": str(error)[:200]})
    return {"status": "ok", "database": "ok"}


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        200: {
            "content": {
                "text/plain": {"example": 'hyperlaw_queue_depth 3\nhyperlaw_runs{status="done"} 12\n'}
            }
        }
    },
)
def metrics(request: Request) -> str:
    """Queue depth, runs by status, fit and request timings, in the Prometheus text format."""
    with request.app.state.database.transaction(immediate=False) as session:
        depth = queue.queue_depth(session=session)
        by_status = runs.counts_by_status(session=session)
    return PlainTextResponse(
        request.app.state.metrics.render(queue_depth=depth, runs_by_status=by_status),
        media_type="text/plain; version=0.0.4",
    )
