"""Runs: submit one, submit a sweep (grid or IsoFLOP), list, get, curve (JSON or CSV), cancel.

Submissions take an `Idempotency-Key` header: the same key again answers 200 with the
runs the first request created, and creates nothing.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import PlainTextResponse

from app import curves, runs, specs, studies
from app.api.deps import ReadAccess, SessionDep, SettingsDep, WriteAccess
from app.api.schemas import (
    Curve,
    CurvePointPublic,
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


def _submitted(created_runs, created: bool, response: Response) -> Submitted:
    response.status_code = 201 if created else 200
    ids = [r.id for r in created_runs]
    return Submitted(id=ids[0], ids=ids, count=len(ids), created=created)


@router.post(
    "/studies/{study_id}/runs", status_code=201, response_model=Submitted, dependencies=[WriteAccess]
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
    )
    return _submitted(created_runs, created, response)


@router.post(
    "/studies/{study_id}/sweeps", status_code=201, response_model=Submitted, dependencies=[WriteAccess]
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
    base = {**study.defaults, **body.base}
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


@router.get("/runs", response_model=RunList, dependencies=[ReadAccess])
def list_runs(
    session: SessionDep,
    study: int | None = Query(None, description="Only runs of this study id."),
    status: Literal["queued", "running", "done", "failed", "diverged", "cancelled"] | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> RunList:
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
            }
        }
    },
)
def get_curve(
    run_id: int,
    session: SessionDep,
    request: Request,
    format: Literal["json", "csv"] | None = Query(None, description="csv, json, or by the Accept header."),
):
    """The run's loss curve, one point per logged step."""
    run = runs.get_run(session=session, run_id=run_id)
    points = curves.get_curve(session=session, run_id=run_id)
    wants_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    if wants_csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(curves.COLUMNS)
        for p in points:
            writer.writerow(["" if getattr(p, c) is None else getattr(p, c) for c in curves.COLUMNS])
        return PlainTextResponse(out.getvalue(), media_type="text/csv")
    return Curve(
        run_id=run.id,
        status=run.status,
        points=[CurvePointPublic.model_validate(p, from_attributes=True) for p in points],
    )


@router.post("/runs/{run_id}/cancel", response_model=RunPublic, dependencies=[WriteAccess])
def cancel_run(run_id: int, session: SessionDep) -> RunPublic:
    """Cancel a queued or running run (a running one stops at its worker's next heartbeat)."""
    return RunPublic.of(runs.cancel_run(session=session, run_id=run_id))
