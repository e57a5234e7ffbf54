"""Studies: owner of the `studies` table.

A study is a family of proxy runs sharing data, architecture family and optimizer
defaults; laws are fitted per study. Functions take the session as a keyword and never
commit: the caller owns the transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db.tables import Study
from app.errors import Conflict, NotFound
from app.parametrization import study_fields
from app.specs import check_defaults, check_source

KINDS = ("proxy", "imported")
# Ids are INTEGER columns (32-bit in PostgreSQL): a larger number names no study, and would overflow
# the query's parameter.
MAX_ID = 2**31 - 1


def create_study(
    *,
    session: Session,
    name: str,
    description: str = "",
    kind: str = "proxy",
    data: str = "synthetic:markov",
    architecture: str = "gpt",
    defaults: dict[str, Any] | None = None,
    parametrization: str | None = None,
    base_d_model: int | None = None,
) -> Study:
    """Add a study; a name already taken is a Conflict. Its data source and defaults are what its
    runs start from (app.runs.spec_defaults), so an unknown source or a default that is no RunSpec
    field is an InvalidInput now rather than a failure of every run later.

    parametrization: "sp" (default) or "mup", with base_d_model the width a mup study's LR is tuned
    at (app.parametrization.study_fields; given in its defaults instead, they are taken from there).
    A mup study without a base width takes its first runs' smallest d_model. For an imported study
    the parametrization is a label of how its runs were trained."""
    check_defaults(defaults or {})
    check_source(data)
    parametrization, base_d_model = study_fields(
        parametrization=parametrization, base_d_model=base_d_model, defaults=defaults or {}
    )
    if session.scalar(select(Study.id).where(Study.name == name)) is not None:
        raise Conflict(f"a study named {name!r} already exists: pick another name or use that study")
    study = Study(
        name=name,
        description=description,
        kind=kind,
        data=data,
        architecture=architecture,
        defaults=dict(defaults or {}),
        parametrization=parametrization,
        base_d_model=base_d_model,
    )
    session.add(study)
    session.flush()
    return study


def record_base_width(*, session: Session, study: Study, base_d_model: int) -> None:
    """Fix a mup study's base width, once, when its first runs are submitted without one: every
    later run inherits it (app.parametrization.inherit). One conditional UPDATE, so of two first
    submissions at once only one sets it; the other is a Conflict (its runs were planned for
    another width) and writes nothing."""
    if study.base_d_model == base_d_model:
        return
    session.execute(
        update(Study)
        .where(Study.id == study.id, Study.base_d_model.is_(None))
        .values(base_d_model=base_d_model)
        .execution_options(synchronize_session=False)
    )
    session.refresh(study, ["base_d_model"])
    if study.base_d_model != base_d_model:
        raise Conflict(
            f"study {study.id} ({study.name!r}) took base width {study.base_d_model} from runs submitted "
            f"meanwhile, not {base_d_model}: submit these runs again to inherit it"
        )


def get_study(*, session: Session, study_id: int) -> Study:
    study = session.get(Study, study_id) if 0 < study_id <= MAX_ID else None
    if study is None:
        raise NotFound("study", study_id)
    return study


def find_study(*, session: Session, ref: str | int) -> Study:
    """A study by id (an integer or a string of digits) or else by name."""
    if (isinstance(ref, int) or str(ref).isdigit()) and 0 < int(ref) <= MAX_ID:
        study = session.get(Study, int(ref))
        if study is not None:
            return study
    study = session.scalar(select(Study).where(Study.name == str(ref)))
    if study is None:
        raise NotFound("study", ref)
    return study


def list_studies(*, session: Session, limit: int = 100, offset: int = 0) -> tuple[list[Study], int]:
    """One page of studies, oldest first, and the total count."""
    rows = session.scalars(select(Study).order_by(Study.id).limit(limit).offset(offset)).all()
    total = session.scalar(select(func.count()).select_from(Study)) or 0
    return list(rows), total
