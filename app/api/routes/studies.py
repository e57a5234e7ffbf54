"""/v1/studies: create, list, get."""

from __future__ import annotations

from fastapi import APIRouter, Query

from app import specs, studies
from app.api.deps import ReadAccess, SessionDep, SettingsDep, WriteAccess
from app.api.schemas import StudyCreate, StudyList, StudyPublic

router = APIRouter(prefix="/v1/studies", tags=["studies"])


@router.post("", status_code=201, response_model=StudyPublic, dependencies=[WriteAccess])
def create_study(body: StudyCreate, session: SessionDep, settings: SettingsDep) -> StudyPublic:
    """Create a study; the answer carries its `id`. A file source (its `data` or its defaults')
    must lie under a data root (HYPERLAW_DATA_ROOTS), as for runs."""
    for data in (body.data, body.defaults.get("data")):
        specs.check_data(data, settings.data_roots)
    study = studies.create_study(session=session, kind="proxy", **body.model_dump())
    return StudyPublic.model_validate(study)


@router.get("", response_model=StudyList, dependencies=[ReadAccess])
def list_studies(
    session: SessionDep, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0)
) -> StudyList:
    rows, total = studies.list_studies(session=session, limit=limit, offset=offset)
    return StudyList(
        items=[StudyPublic.model_validate(s) for s in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{study_id}", response_model=StudyPublic, dependencies=[ReadAccess])
def get_study(study_id: int, session: SessionDep) -> StudyPublic:
    return StudyPublic.model_validate(studies.get_study(session=session, study_id=study_id))
