"""/v1/studies: create, list, get."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app import specs, studies
from app.api.deps import ReadAccess, SessionDep, SettingsDep, WriteAccess
from app.api.schemas import MAX_ID, MAX_OFFSET, StudyCreate, StudyList, StudyPublic
from app.errors import InvalidInput

router = APIRouter(prefix="/v1/studies", tags=["studies"])


@router.post("", status_code=201, response_model=StudyPublic, dependencies=[WriteAccess])
def create_study(body: StudyCreate, session: SessionDep, settings: SettingsDep) -> StudyPublic:
    """Create a study; the answer carries its `id`. Its `data` is what its runs train on unless a run
    says otherwise; an unknown source or a default that is no RunSpec field is a 422. A file source
    (its `data` or its defaults') must lie under a data root (HYPERLAW_DATA_ROOTS), as for runs."""
    values = body.model_dump()
    if "data" in body.defaults:
        if "data" in body.model_fields_set and body.defaults["data"] != body.data:
            raise InvalidInput(
                f"data ({body.data!r}) and defaults.data ({body.defaults['data']!r}) differ: give the "
                "study's data source once, as data",
                field="data",
            )
        values["data"] = body.defaults["data"]
    for data in (values["data"], body.defaults.get("data")):
        specs.check_data(data, settings.data_roots)
    study = studies.create_study(session=session, kind="proxy", **values)
    return StudyPublic.model_validate(study)


@router.get("", response_model=StudyList, dependencies=[ReadAccess])
def list_studies(
    session: SessionDep, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_OFFSET)
) -> StudyList:
    rows, total = studies.list_studies(session=session, limit=limit, offset=offset)
    return StudyList(
        items=[StudyPublic.model_validate(s) for s in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{study_id}", response_model=StudyPublic, dependencies=[ReadAccess])
def get_study(
    study_id: Annotated[int, Path(ge=1, le=MAX_ID, description="The study's id.")], session: SessionDep
) -> StudyPublic:
    return StudyPublic.model_validate(studies.get_study(session=session, study_id=study_id))
