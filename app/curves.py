"""Curve points: owner of the `curve_points` table.

Points are unique on (run_id, step) and written in batches with one upsert statement
(`INSERT ... ON CONFLICT (run_id, step) DO UPDATE`; on PostgreSQL fed by COPY through a
staging table), so a retried or resumed write never duplicates a point and never loses one. The session's caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db.tables import CurvePoint, Run

COLUMNS = ("step", "tokens", "train_loss", "eval_loss", "lr", "noise_scale", "wall_time")


def _upsert_statement(dialect: str):
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise RuntimeError(f"no upsert for dialect {dialect!r}")
    statement = insert(CurvePoint)
    return statement.on_conflict_do_update(
        index_elements=[CurvePoint.run_id, CurvePoint.step],
        set_={name: statement.excluded[name] for name in COLUMNS if name != "step"},
    )


# Built once: the compiled statement is cached and reused for every batch.
_UPSERTS = {"sqlite": _upsert_statement("sqlite")}


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
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        _copy_upsert(connection, rows)
    elif dialect in _UPSERTS:
        # sqlite3's executemany runs the one prepared statement over all rows, in C.
        connection.execute(_UPSERTS[dialect], rows)
    else:
        raise RuntimeError(f"no upsert for dialect {dialect!r}")
    return len(rows)


_STAGING = "curve_points_incoming"
_ALL = ("run_id", *COLUMNS)
_MERGE = (
    f"INSERT INTO curve_points ({', '.join(_ALL)}) SELECT {', '.join(_ALL)} FROM {_STAGING} "
    f"ON CONFLICT (run_id, step) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _ALL if c not in ("run_id", "step"))
)


def _copy_upsert(connection, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: COPY the batch into a session-local staging table, then one
    INSERT ... SELECT ... ON CONFLICT DO UPDATE. psycopg's executemany sends a statement
    per row; COPY moves the whole batch in one stream (several times faster)."""
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} "
            f"(LIKE curve_points INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {_STAGING}")
        with cursor.copy(f"COPY {_STAGING} ({', '.join(_ALL)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(tuple(row[c] for c in _ALL))
        cursor.execute(_MERGE)


def get_curve(*, session: Session, run_id: int) -> list[CurvePoint]:
    """All points of a run in step order."""
    return list(
        session.scalars(select(CurvePoint).where(CurvePoint.run_id == run_id).order_by(CurvePoint.step))
    )


def count_points(*, session: Session, run_ids: Iterable[int] | None = None) -> int:
    query = select(func.count()).select_from(CurvePoint)
    if run_ids is not None:
        query = query.where(CurvePoint.run_id.in_(list(run_ids)))
    return session.scalar(query) or 0


def runs_with_points(*, session: Session, runs: Sequence[Run], min_points: int) -> list[Run]:
    """The runs (in their order) with at least `min_points` stored curve points: one query."""
    counts = dict(
        session.execute(
            select(CurvePoint.run_id, func.count())
            .where(CurvePoint.run_id.in_([r.id for r in runs]))
            .group_by(CurvePoint.run_id)
        ).all()
    )
    return [r for r in runs if counts.get(r.id, 0) >= min_points]


def last_point(*, session: Session, run_id: int) -> CurvePoint | None:
    return session.scalar(
        select(CurvePoint).where(CurvePoint.run_id == run_id).order_by(CurvePoint.step.desc()).limit(1)
    )
