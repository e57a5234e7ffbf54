"""/v1/studies/{id}/plan: propose proxy runs for a budget and a target (app/plan.py), and queue them
with `submit: true` (one transaction, Idempotency-Key and the sweep cap honoured).

A plan alone is arithmetic over the study's defaults, so it needs only read access; `submit` needs a
write token."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app import plan, runs, studies
from app.api.deps import ReadAccess, SessionDep, SettingsDep, require_write
from app.api.routes.runs import IdempotencyKey
from app.api.schemas import PlanCreate, PlanPublic

router = APIRouter(prefix="/v1", tags=["plan"])


@router.post(
    "/studies/{study_id}/plan",
    response_model=PlanPublic,
    dependencies=[ReadAccess],
    responses={201: {"model": PlanPublic, "description": "The plan, its runs queued (submit=true)."}},
)
def plan_study(
    study_id: int,
    body: PlanCreate,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> PlanPublic:
    """Propose an IsoFLOP design and LR × batch grids within the budget, with each run's cost; 200, or
    201 when `submit` queued the runs. Planning reads; `submit` needs a write token."""
    if body.submit:
        require_write(request)
    study = studies.get_study(session=session, study_id=study_id)
    planned = plan.plan_runs(
        base=plan.base_spec(study.defaults, seq_len=body.seq_len, vocab_size=body.vocab_size, data=body.data),
        n_params=body.n_params,
        tokens=body.tokens,
        budget_flops=body.budget_flops,
        gpu_hours=body.gpu_hours,
        flops_per_gpu_s=body.flops_per_gpu_s,
        design=plan.Design(
            body.isoflop_budgets, body.shapes_per_budget, body.hparam_scales, body.lr_k, body.batch_k
        ),
    )
    public = PlanPublic.model_validate(planned.to_dict())
    if body.submit:
        queued, created = runs.submit_runs(
            session=session,
            study=study,
            specs=[r.spec for r in planned.runs],
            idempotency_key=idempotency_key,
            cap=settings.sweep_cap,
        )
        public.ids, public.created = [r.id for r in queued], created
        response.status_code = 201 if created else 200
    return public
