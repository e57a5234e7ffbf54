"""Runs: submit one, submit a sweep (grid or IsoFLOP), list, get, curve (JSON or CSV), cancel.

Submissions take an `Idempotency-Key` header: the same key again answers 200 with the
runs the first request created, and creates nothing.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from app import curves, runs, specs, studies
from app.api.deps import DatabaseDep, ReadAccess, SessionDep, SettingsDep, WriteAccess
from app.api.schemas import (
    MAX_ID,
    MAX_OFFSET,
    Curve,
    Grid,
    RunCreate,
    RunList,
    RunPublic,
    Submitted,
    SweepCreate,
)
from app.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["runs"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Repeat a submission safely: same key, same runs.",
    ),
]

# A replayed Idempotency-Key answers 200, not 201: documented, so clients (and the schema) expect it.
REPLAYED = {
    200: {
        "model": Submitted,
        "description": "A repeat of an earlier request's Idempotency-Key: the runs it created, nothing new.",
    }
}


def _submitted(created_runs, created: bool, response: Response) -> Submitted:
    response.status_code = 201 if created else 200
    ids = [r.id for r in created_runs]
    return Submitted(id=ids[0], ids=ids, count=len(ids), created=created)


@router.post(
    "/studies/{study_id}/runs",
    status_code=201,
    response_model=Submitted,
    dependencies=[WriteAccess],
    responses=REPLAYED,
)
def submit_run(
    study_id: int,
    body: RunCreate,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Submitted:
    """Queue one run (a file source must lie under a data root: HYPERLAW_DATA_ROOTS)."""
    study = studies.get_study(session=session, study_id=study_id)
    created_runs, created = runs.submit_runs(
        session=session,
        study=study,
        specs=[body.spec],
        idempotency_key=idempotency_key,
        data_roots=settings.data_roots,
        capacity=specs.Capacity.of(settings),
        mix_imported=body.mix_imported,
    )
    return _submitted(created_runs, created, response)


@router.post(
    "/studies/{study_id}/sweeps",
    status_code=201,
    response_model=Submitted,
    dependencies=[WriteAccess],
    responses=REPLAYED,
)
def submit_sweep(
    study_id: int,
    body: SweepCreate,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Submitted:
    """Queue a grid (shapes × tokens × LR × batch × seed, LR and batch also as axes around a centre)
    or an IsoFLOP design (budgets × shapes). The cap applies to the expanded size, before any write."""
    study = studies.get_study(session=session, study_id=study_id)
    base = {**runs.spec_defaults(study), **body.base}  # the study's data and defaults, then the request's
    specs.check_data(base.get("data"), settings.data_roots)  # before an IsoFLOP design reads the spec
    if body.grid is not None:
        axes = _grid_axes(body.grid, seq_len=specs.seq_len_of(base))
        _check_cap(math.prod(max(1, len(axis)) for axis in axes.values()), settings.sweep_cap)
        expanded = specs.expand_grid(base, **axes)
    else:
        _check_cap(body.isoflop.size(), settings.sweep_cap)
        expanded = specs.expand_isoflop(base, compute=body.isoflop.compute, shapes=body.isoflop.shapes)
    created_runs, created = runs.submit_runs(
        session=session,
        study=study,
        specs=expanded,
        idempotency_key=idempotency_key,
        cap=settings.sweep_cap,
        data_roots=settings.data_roots,
        capacity=specs.Capacity.of(settings),
        mix_imported=body.mix_imported,
    )
    return _submitted(created_runs, created, response)


def _check_cap(size: int, cap: int) -> None:
    if size > cap:
        raise InvalidInput(f"the sweep has {size} runs, more than the cap of {cap}: split it", field="sweep")


def _grid_axes(grid: Grid, *, seq_len: int) -> dict[str, list]:
    """The grid's axes with the around-axes expanded (LR log-spaced; batches in whole sequences)."""
    lr, batch_tokens = grid.lr, grid.batch_tokens
    if grid.lr_around is not None:
        lr = specs.log_around(grid.lr_around.centre, grid.lr_around.k, grid.lr_around.factor)
    if grid.batch_tokens_around is not None:
        around = grid.batch_tokens_around
        batch_tokens = specs.batches_around(around.centre, around.k, around.factor, seq_len=seq_len)
    return {
        "shapes": grid.shapes,
        "tokens": grid.tokens,
        "lr": lr,
        "batch_tokens": batch_tokens,
        "seed": grid.seed,
    }


# Steps beyond a 64-bit integer are refused here, before a driver could overflow on them.
MAX_STEP = MAX_OFFSET


@router.get("/runs", response_model=RunList, dependencies=[ReadAccess])
def list_runs(
    session: SessionDep,
    study: int | None = Query(None, ge=1, le=MAX_ID, description="Only runs of this study id (404 if none)."),
    status: Literal["queued", "running", "done", "failed", "diverged", "cancelled"] | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> RunList:
    """One page of runs, oldest first; `total` counts every run that matches."""
    if study is not None:
        studies.get_study(session=session, study_id=study)  # 404, as every route naming a study
    rows, total = runs.list_runs(session=session, study_id=study, status=status, limit=limit, offset=offset)
    return RunList(items=[RunPublic.of(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/runs/{run_id}", response_model=RunPublic, dependencies=[ReadAccess])
def get_run(run_id: int, session: SessionDep) -> RunPublic:
    """Status, progress, and (once finished) the final losses and counts."""
    return RunPublic.of(runs.get_run(session=session, run_id=run_id))


@router.get(
    "/runs/{run_id}/curve",
    response_model=Curve,
    dependencies=[ReadAccess],
    responses={
        200: {
            "content": {
                "text/csv": {"example": "step,tokens,train_loss,eval_loss,lr,noise_scale,wall_time\n"}
            },
            "headers": {
                "X-Next-Step": {
                    "description": "The from_step of the next page (absent on the last), as next_step.",
                    "schema": {"type": "integer"},
                }
            },
        }
    },
)
def get_curve(
    run_id: int,
    session: SessionDep,
    database: DatabaseDep,
    settings: SettingsDep,
    request: Request,
    format: Literal["json", "csv"] | None = Query(None, description="csv, json, or by the Accept header."),
    from_step: int | None = Query(None, ge=0, le=MAX_STEP, description="Only points at this step or later."),
    to_step: int | None = Query(None, ge=0, le=MAX_STEP, description="Only points at this step or earlier."),
    limit: int | None = Query(
        None,
        ge=1,
        le=MAX_STEP,
        description="Most points in this page (JSON: HYPERLAW_CURVE_PAGE_POINTS by default and at most; "
        "CSV: every point, streamed, by default). The answer's next_step (CSV: the X-Next-Step header) "
        "is the from_step of the next page.",
    ),
    max_points: int | None = Query(
        None,
        ge=curves.MIN_DOWNSAMPLED,
        le=100_000,
        description="Downsample the range to at most this many points (min-max over equal spans of "
        "steps; every point of the last stretch and the lowest losses kept); no paging then.",
    ),
):
    """The run's loss curve, one point per logged step: a page of it, a step range, or a
    downsampled outline of it (`max_points`, what a plot needs)."""
    run = runs.get_run(session=session, run_id=run_id)
    if to_step is not None and from_step is not None and to_step < from_step:
        raise InvalidInput(f"to_step ({to_step}) is before from_step ({from_step})", field="to_step")
    wants_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    page = settings.curve_page_points
    if max_points is not None:
        outline = curves.downsample(
            session=session, run_id=run_id, max_points=max_points, from_step=from_step, to_step=to_step
        )
        if wants_csv:
            return _csv(iter(outline.points), next_step=None)
        return _json(run, outline.points, next_step=None, total=outline.total)
    if wants_csv:
        following = None
        if limit is not None:
            following = curves.next_step(
                session=session, run_id=run_id, from_step=from_step, to_step=to_step, limit=limit
            )
        rows = curves.iter_curve(
            database=database, run_id=run_id, from_step=from_step, to_step=to_step, limit=limit, chunk=page
        )
        return _csv(rows, next_step=following)
    if limit is not None and limit > page:
        raise InvalidInput(
            f"limit ({limit}) is more than one page of a curve as JSON ({page} points, "
            "HYPERLAW_CURVE_PAGE_POINTS): page with from_step=next_step, or ask for CSV (streamed)",
            field="limit",
        )
    limit = limit or page
    # One point more than the page: its step is the next page's cursor, with no second query.
    points = curves.get_curve(
        session=session, run_id=run_id, from_step=from_step, to_step=to_step, limit=limit + 1
    )
    following = points.pop().step if len(points) > limit else None
    return _json(run, points, next_step=following, total=None)


def _finite(value):
    return value if value is None or math.isfinite(value) else None


def _json(run, points, *, next_step: int | None, total: int | None) -> Response:
    """The Curve body, serialised directly: a page of 10,000 points validated through pydantic
    would cost several times the read. JSON has no NaN or Infinity, so those points are sent as
    null, as pydantic would (a diverged run's losses)."""
    body = {
        "run_id": run.id,
        "status": run.status,
        "points": [dict(zip(curves.COLUMNS, p, strict=True)) for p in points],
        "next_step": next_step,
        "downsampled_from": total if total is not None and total > len(points) else None,
    }
    try:
        content = json.dumps(body, allow_nan=False, separators=(",", ":"))
    except ValueError:
        body["points"] = [{k: _finite(v) if k != "step" else v for k, v in p.items()} for p in body["points"]]
        content = json.dumps(body, allow_nan=False, separators=(",", ":"))
    headers = {} if next_step is None else {"X-Next-Step": str(next_step)}
    return Response(content, media_type="application/json", headers=headers)


def _csv(rows, *, next_step: int | None) -> StreamingResponse:
    """The points as CSV, written a few thousand rows at a time as they are read."""

    def lines():
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(curves.COLUMNS)
        for count, row in enumerate(rows, start=1):
            writer.writerow(["" if v is None else v for v in row])
            if count % 2000 == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()

    headers = {} if next_step is None else {"X-Next-Step": str(next_step)}
    return StreamingResponse(lines(), media_type="text/csv", headers=headers)


@router.post("/runs/{run_id}/cancel", response_model=RunPublic, dependencies=[WriteAccess])
def cancel_run(run_id: int, session: SessionDep) -> RunPublic:
    """Cancel a queued or running run (a running one stops at its worker's next heartbeat)."""
    return RunPublic.of(runs.cancel_run(session=session, run_id=run_id))
