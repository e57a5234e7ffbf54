"""/v1/studies/{id}/plan: propose proxy runs for a budget and a target (app/plan), and queue them
with `submit: true` (one transaction, Idempotency-Key and the sweep cap honoured).

A plan alone is a read: it writes nothing and is arithmetic over the study's defaults and the request,
a GET that needs a body. So it takes read access (anonymous when HYPERLAW_PUBLIC_READS is on), bounded
like every body by HYPERLAW_MAX_BODY_BYTES. `submit: true` queues runs, so it needs a write token,
checked before anything is planned or written."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from app import plan, runs, specs, studies
from app.api.deps import ReadAccess, SessionDep, SettingsDep, require_write
from app.api.routes.runs import IdempotencyKey
from app.api.schemas import MAX_ID, PlanCreate, PlanPublic

router = APIRouter(prefix="/v1", tags=["plan"])
# PlanCreate's fields besides these (and `submit`) are submit_plan's arguments of the same names.
_DESIGN_FIELDS = frozenset(f.name for f in dataclasses.fields(plan.Design))


@router.post(
    "/studies/{study_id}/plan",
    response_model=PlanPublic,
    dependencies=[ReadAccess],
    responses={201: {"model": PlanPublic, "description": "The plan, its runs queued (submit=true)."}},
)
def plan_study(
    study_id: Annotated[int, Path(ge=1, le=MAX_ID, description="The study's id.")],
    body: PlanCreate,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> PlanPublic:
    """Propose an IsoFLOP design and LR × batch grids within the budget, with each run's cost; 200, or
    201 when `submit` queued the runs. A dry run is a read (it writes nothing); `submit` needs a write
    token."""
    if body.submit:
        require_write(request)
    planned = runs.submit_plan(
        session=session,
        study=studies.get_study(session=session, study_id=study_id),
        design=plan.Design(**body.model_dump(include=_DESIGN_FIELDS)),
        dry_run=not body.submit,
        idempotency_key=idempotency_key,
        cap=settings.sweep_cap,
        data_roots=settings.data_roots,
        capacity=specs.Capacity.of(settings),
        **body.model_dump(exclude={"submit", *_DESIGN_FIELDS}),  # the target, budget and spec fields
    )
    if body.submit:
        response.status_code = 201 if planned.created else 200
    return PlanPublic.of(planned)
