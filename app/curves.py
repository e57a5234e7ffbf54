"""Curve points: owner of the `curve_points` table.

Points are unique on (run_id, step) and written in batches with one upsert statement
(`INSERT ... ON CONFLICT (run_id, step) DO UPDATE`), so a retried or resumed write never
duplicates a point and never loses one. The session's caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db.tables import CurvePoint

COLUMNS = ("step", "tokens", "train_loss", "eval_loss", "lr", "noise_scale", "wall_time")
# SQLite allows 32766 bound parameters per statement; 8 columns x 2000 rows stays well below.
MAX_ROWS_PER_STATEMENT = 2000


def _insert_for(session: Session):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"no upsert for dialect {dialect!r}")


def write_points(*, session: Session, run_id: int, points: Sequence[Mapping[str, Any]]) -> int:
    """Upsert `points` (mappings with the COLUMNS keys) of one run; returns how many were sent."""
    if not points:
        return 0
    # The last value for a step wins, also within one batch (ON CONFLICT cannot touch a row twice).
    by_step: dict[int, dict[str, Any]] = {}
    for point in points:
        row = {name: point.get(name) for name in COLUMNS}
        row["step"] = int(row["step"])
        row["run_id"] = run_id
        by_step[row["step"]] = row
    rows = list(by_step.values())
    insert = _insert_for(session)
    for start in range(0, len(rows), MAX_ROWS_PER_STATEMENT):
        statement = insert(CurvePoint).values(rows[start : start + MAX_ROWS_PER_STATEMENT])
        statement = statement.on_conflict_do_update(
            index_elements=[CurvePoint.run_id, CurvePoint.step],
            set_={name: statement.excluded[name] for name in COLUMNS if name != "step"},
        )
        session.execute(statement)
    return len(rows)


def get_curve(*, session: Session, run_id: int) -> list[CurvePoint]:
    """All points of a run in step order."""
    return list(session.scalars(select(CurvePoint).where(CurvePoint.run_id == run_id).order_by(CurvePoint.step)))


def count_points(*, session: Session, run_ids: Iterable[int] | None = None) -> int:
    query = select(func.count()).select_from(CurvePoint)
    if run_ids is not None:
        query = query.where(CurvePoint.run_id.in_(list(run_ids)))
    return session.scalar(query) or 0


def last_point(*, session: Session, run_id: int) -> CurvePoint | None:
    return session.scalar(
        select(CurvePoint).where(CurvePoint.run_id == run_id).order_by(CurvePoint.step.desc()).limit(1)
    )
