"""Curve points: owner of the `curve_points` table.

Points are unique on (run_id, step) and written in batches with one upsert statement
(`INSERT ... ON CONFLICT (run_id, step) DO UPDATE`, compiled once and run by the driver's
executemany on SQLite; on PostgreSQL fed by COPY through a staging table), so a retried or resumed
write never duplicates a point and never loses one. The session's caller owns the transaction.

Reads are Core selects returning rows, never ORM objects: a step range, a page (`limit`, with
`next_step` the cursor to the next), a chunked iterator for streaming, and `downsample` for plots.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db.tables import CurvePoint

if TYPE_CHECKING:
    from app.runs import FitRun

COLUMNS = ("step", "tokens", "train_loss", "eval_loss", "lr", "noise_scale", "wall_time")
_TABLE = CurvePoint.__table__
_SELECTED = tuple(_TABLE.c[name] for name in COLUMNS)
# The fewest points a downsampled curve may be asked for: one span's low and high, the tail, the minima.
MIN_DOWNSAMPLED = 10


def _upsert_statement(dialect: str):
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise RuntimeError(f"no upsert for dialect {dialect!r}")
    statement = insert(CurvePoint)
    return statement.on_conflict_do_update(
        index_elements=[CurvePoint.run_id, CurvePoint.step],
        set_={name: statement.excluded[name] for name in COLUMNS if name != "step"},
    )


_ALL = ("run_id", *COLUMNS)
_PICK = itemgetter(*COLUMNS)
_SQL: dict[str, str] = {}


def _upsert_sql(connection) -> str:
    """The upsert compiled once per dialect to SQL with positional parameters in _ALL's order, for
    the driver's executemany: SQLAlchemy's own executemany would turn every row into a dict and
    back, several times the cost of the write itself."""
    dialect = connection.dialect
    if dialect.name not in _SQL:
        compiled = _upsert_statement(dialect.name).compile(dialect=dialect, column_keys=list(_ALL))
        if tuple(compiled.positiontup) != _ALL:
            raise RuntimeError(f"the curve upsert binds {compiled.positiontup}, not {_ALL}")
        _SQL[dialect.name] = compiled.string
    return _SQL[dialect.name]


def write_points(*, session: Session, run_id: int, points: Sequence[Mapping[str, Any]]) -> int:
    """Upsert `points` (mappings with the COLUMNS keys) of one run; returns how many were sent."""
    if not points:
        return 0
    try:
        values = list(map(_PICK, points))  # one C call per point when every key is there
    except KeyError:
        values = [tuple(point.get(name) for name in COLUMNS) for point in points]
    steps = {v[0] for v in values}
    if len(steps) == len(values) and set(map(type, steps)) == {int}:
        rows = [(run_id, *v) for v in values]
    else:
        # The last value for a step wins (ON CONFLICT cannot touch a row twice in one statement).
        by_step = {int(v[0]): v for v in values}
        rows = [(run_id, step, *v[1:]) for step, v in by_step.items()]
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        _copy_upsert(connection, rows)
    elif dialect == "sqlite":
        # sqlite3's executemany runs the one prepared statement over all rows, in C.
        connection.exec_driver_sql(_upsert_sql(connection), rows)
    else:
        raise RuntimeError(f"no upsert for dialect {dialect!r}")
    return len(rows)


_STAGING = "curve_points_incoming"
_MERGE = (
    f"INSERT INTO curve_points ({', '.join(_ALL)}) SELECT {', '.join(_ALL)} FROM {_STAGING} "
    f"ON CONFLICT (run_id, step) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _ALL if c not in ("run_id", "step"))
)


def _copy_upsert(connection, rows: list[tuple]) -> None:
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
                copy.write_row(row)
        cursor.execute(_MERGE)


def _range(run_id: int, from_step: int | None, to_step: int | None) -> list[Any]:
    where = [_TABLE.c.run_id == run_id]
    if from_step is not None:
        where.append(_TABLE.c.step >= from_step)
    if to_step is not None:
        where.append(_TABLE.c.step <= to_step)
    return where


def get_curve(
    *,
    session: Session,
    run_id: int,
    from_step: int | None = None,
    to_step: int | None = None,
    limit: int | None = None,
) -> list[Row]:
    """Points of a run in step order (all, or those with from_step <= step <= to_step, at most
    `limit`), as rows with the COLUMNS as attributes: a Core select, since building an ORM object
    per point costs many times the read itself (18x at 100,000 points)."""
    query = select(*_SELECTED).where(*_range(run_id, from_step, to_step)).order_by(_TABLE.c.step)
    if limit is not None:
        query = query.limit(limit)
    return list(session.execute(query))


def next_step(
    *, session: Session, run_id: int, from_step: int | None, to_step: int | None, limit: int
) -> int | None:
    """The step a page of `limit` points from `from_step` stops before (the next page's from_step),
    or None when the page holds every point left in the range: one index seek, so the cursor is
    known before a page is streamed."""
    query = (
        select(_TABLE.c.step)
        .where(*_range(run_id, from_step, to_step))
        .order_by(_TABLE.c.step)
        .offset(limit)
        .limit(1)
    )
    return session.scalar(query)


def iter_curve(
    *,
    database: Any,
    run_id: int,
    from_step: int | None = None,
    to_step: int | None = None,
    limit: int | None = None,
    chunk: int = 10_000,
) -> Iterator[Row]:
    """The points `get_curve` would return, read `chunk` at a time, each chunk in its own short read
    transaction of `database` (an app.db.Database): for streaming a curve of any length in bounded
    memory, after the request's own session is closed. Chunks continue from the last step read, so a
    run that is still writing neither repeats nor skips a point."""
    left = limit
    start = from_step
    while left is None or left > 0:
        size = chunk if left is None else min(chunk, left)
        with database.session() as session, session.begin():
            rows = get_curve(session=session, run_id=run_id, from_step=start, to_step=to_step, limit=size)
        yield from rows
        if len(rows) < size:
            return
        start = rows[-1].step + 1
        if left is not None:
            left -= len(rows)


@dataclass(frozen=True)
class Downsampled:
    """A curve cut to at most `max_points`: `points` in step order, and how many the range held."""

    points: list[Row]
    total: int


def downsample(
    *,
    session: Session,
    run_id: int,
    max_points: int,
    from_step: int | None = None,
    to_step: int | None = None,
) -> Downsampled:
    """At most `max_points` points of the range that keep what a reader of a loss curve looks at.

    Min-max decimation over steps: the steps before the last stretch are cut into equal spans of
    steps, and each span keeps its points of lowest and highest loss (the train loss, else the eval
    loss), so spikes and the envelope survive, as they would not if one point per span were kept.
    Every point of the last stretch (the last tenth of `max_points` points) is kept, and so are the
    points of lowest loss and lowest eval loss. The spans' choice is made by the database (window
    functions over the range), so only the points kept travel: a 100,000-point curve is cut in a
    few tenths of a second, in memory that does not grow with it.
    """
    if max_points < MIN_DOWNSAMPLED:
        raise ValueError(f"max_points must be at least {MIN_DOWNSAMPLED}")
    where = _range(run_id, from_step, to_step)
    step = _TABLE.c.step
    total, first = session.execute(select(func.count(), func.min(step)).where(*where)).one()
    if total <= max_points:
        points = get_curve(session=session, run_id=run_id, from_step=from_step, to_step=to_step)
        return Downsampled(points, total)
    tail = max(1, max_points // 10)
    spans = (max_points - tail - 2) // 2
    tail_start = session.scalar(select(step).where(*where).order_by(step.desc()).offset(tail - 1).limit(1))
    # Integer division on both engines (SQLAlchemy renders // on integers as SQL's /): span 0..spans-1.
    span = (step - first) * spans // (tail_start - first)
    loss = func.coalesce(_TABLE.c.train_loss, _TABLE.c.eval_loss)
    # One sort per span: its first row by loss is its lowest, and the row numbered as many as the span
    # has losses its highest (NULL losses sort last, so a span of none keeps its first point).
    ranked = (
        select(
            *_SELECTED,
            func.row_number().over(partition_by=span, order_by=(loss.asc().nulls_last(), step)).label("rank"),
            func.count(loss).over(partition_by=span).label("losses"),
        )
        .where(*where, step < tail_start)
        .subquery()
    )
    in_spans = select(*(ranked.c[name] for name in COLUMNS)).where(
        (ranked.c.rank == 1) | (ranked.c.rank == ranked.c.losses)
    )
    kept = {row.step: row for row in session.execute(in_spans)}
    tail_points = get_curve(session=session, run_id=run_id, from_step=tail_start, to_step=to_step)
    kept.update((row.step, row) for row in tail_points)
    # The lowest loss (train, else eval) is some span's lowest or in the tail; the lowest eval loss
    # need not be (eval points usually carry a train loss too, which ranks them).
    eval_loss = _TABLE.c.eval_loss
    lowest_eval = session.execute(
        select(*_SELECTED).where(*where, eval_loss.is_not(None)).order_by(eval_loss, step).limit(1)
    ).first()
    if lowest_eval is not None:
        kept[lowest_eval.step] = lowest_eval
    return Downsampled([kept[s] for s in sorted(kept)], total)


def count_points(*, session: Session, run_ids: Iterable[int] | None = None) -> int:
    query = select(func.count()).select_from(CurvePoint)
    if run_ids is not None:
        query = query.where(CurvePoint.run_id.in_(list(run_ids)))
    return session.scalar(query) or 0


def runs_with_points(*, session: Session, runs: Sequence[FitRun], min_points: int) -> list[FitRun]:
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
