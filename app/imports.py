"""Imports: runs measured elsewhere, added to a study in bulk (part of the runs owner, app/runs.py).

Rows arrive as an iterator (the CSV reader streams them from a file, app/tabular.py), are checked
and written in batches of BATCH through one compiled INSERT run with the driver's executemany on
SQLite and COPY on PostgreSQL: no ORM object per row, and memory bounded by a batch whatever the
size of the import (10^6 rows in tens of seconds, where an ORM object per row took 318 s and 5.8 GB).

Each row needs `loss` and two of `n_params`, `tokens`, `flops` (the third follows from C = 6·N·D,
Kaplan et al. 2020). A row may name the run it was measured on (a group: rows that are checkpoints of
one run share it, and a loss fit's bootstrap resamples them together); it is stored as the run's
group_key. A bad row is an InvalidInput naming the row as its source numbers it (the CSV's
line, as `hyperlaw fit --csv` does; `runs[i]` in JSON) and the field, quoting at most a few dozen
characters of it; the caller's transaction is then rolled back, so a failed import writes nothing.

The same data imported twice into a study is refused (Conflict) unless duplicates are allowed:
the first run of an import carries the digest of its input as its idempotency key, so the unique
index on (study, key, index) that makes submissions idempotent also settles two identical imports
racing each other.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from operator import itemgetter
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.db.tables import Run, Study, utcnow
from app.errors import Conflict, InvalidInput
from app.tabular import iter_rows

FIELDS = ("n_params", "tokens", "flops", "loss", "lr", "batch_tokens")
BATCH = 5000
IDS_LISTED = 10_000  # ids an import answers with; the rest are first_id..last_id, listed by GET /v1/runs
MAX_QUOTED = 40  # characters of a bad value quoted in an error
MAX_GROUP = 200  # characters of a group (runs.group_key)
GROUP_ALIASES = ("group", "run")  # the keys a mapping row's group is read under
KEY_PREFIX = "import:"

_TABLE = Run.__table__
# The columns an imported run is written with, in the table's order (so the compiled INSERT's
# positional parameters are in this order too: _insert_sql checks it), and the order of a row's tuple.
_COLUMNS = (
    "id",
    "study_id",
    "status",
    "n_params",
    "tokens",
    "flops",
    "flops_6nd",
    "lr",
    "batch_tokens",
    "loss",
    "final_eval_loss",
    "attempts",
    "created_at",
    "finished_at",
    "group_key",
)


class TooManyRows(InvalidInput):
    """An import over the row limit (413): nothing of it was written."""


@dataclass(frozen=True)
class Source:
    """Rows to import: (number, the six raw values in FIELDS order and the row's group) pairs, with
    how an error names a row (`where(number)`: "the CSV line 7"), each field (`names`: "column 'N'";
    None: the field's own name) and the group (`group_name`)."""

    rows: Iterable[tuple[int, Sequence[Any]]]
    where: Callable[[int], str]
    names: Sequence[str | None]
    group_name: str = "'group'"


@dataclass(frozen=True)
class ImportedRuns:
    """What an import wrote: how many runs, the first IDS_LISTED ids, the first and last id."""

    count: int
    ids: list[int]
    first_id: int | None
    last_id: int | None


def import_runs(
    *,
    session: Session,
    study: Study,
    source: Source,
    digest: str | None = None,
    allow_duplicates: bool = False,
    max_rows: int | None = None,
) -> ImportedRuns:
    """Check and write the source's rows as finished runs of `study`, BATCH at a time.

    `digest` names the input (a hash of its bytes and column options): an earlier import with the
    same digest into this study is a Conflict unless `allow_duplicates`. More than `max_rows` rows is
    TooManyRows. The caller owns the transaction and rolls it back on any error.
    """
    key = None
    if digest is not None:
        key = KEY_PREFIX + digest
        if _imported_before(session, study.id, key):
            if not allow_duplicates:
                raise Conflict(
                    f"this data was already imported into study {study.name!r}: importing it again would "
                    "count every run twice; pass allow_duplicates=true if that is meant"
                )
            key = None  # the earlier import keeps the mark
    connection = session.connection()
    writer = _writer_for(connection)
    stamp = utcnow()
    count, ids, first_id, last_id = 0, [], None, None
    rows = iter(source.rows)
    while batch := list(islice(rows, BATCH)):
        values = [_checked(number, raw, source) for number, raw in batch]
        count += len(values)
        if max_rows is not None and count > max_rows:
            raise TooManyRows(
                f"the import holds more than {max_rows} rows (HYPERLAW_MAX_IMPORT_ROWS): split it, or raise "
                "HYPERLAW_MAX_IMPORT_ROWS",
                field="file",
            )
        new_ids = writer(connection, study.id, stamp, values, key if first_id is None else None)
        first_id = new_ids[0] if first_id is None else first_id
        last_id = new_ids[-1]
        ids.extend(new_ids[: max(0, IDS_LISTED - len(ids))])
    if not count:
        raise InvalidInput("the import holds no rows", field="file")
    return ImportedRuns(count=count, ids=ids, first_id=first_id, last_id=last_id)


def _imported_before(session: Session, study_id: int, key: str) -> bool:
    query = select(Run.id).where(Run.study_id == study_id, Run.idempotency_key == key).limit(1)
    return session.scalar(query) is not None


# ---------------------------------------------------------------------------- sources


def mapping_source(
    rows: Iterable[Mapping[str, Any]], aliases: Mapping[str, Sequence[str]] | None = None
) -> Source:
    """Rows given as mappings (Python callers, JSON bodies), numbered from 1 as "row N": each field
    read under its first alias present with a value (`aliases`: field -> names, e.g. n_params -> N),
    and the group under GROUP_ALIASES."""
    names = {field: (aliases or {}).get(field, (field,)) for field in FIELDS}
    names["group"] = GROUP_ALIASES

    def values(row: Mapping[str, Any]) -> list[Any]:
        return [next((row[n] for n in names[f] if row.get(n) is not None), None) for f in (*FIELDS, "group")]

    def numbered() -> Iterator[tuple[int, Sequence[Any]]]:
        for number, row in enumerate(rows, start=1):
            if not isinstance(row, Mapping):
                raise InvalidInput(f"row {number} is not an object of named values", field="runs")
            yield number, values(row)

    shown = [" or ".join(repr(n) for n in names[f]) for f in FIELDS]
    group_name = " or ".join(repr(n) for n in GROUP_ALIASES)
    return Source(rows=numbered(), where=lambda number: f"row {number}", names=shown, group_name=group_name)


def csv_source(
    lines: Iterable[str], columns: Sequence[str | None], source: str = "the CSV", group: str | None = None
) -> Source:
    """Rows of CSV text given line by line, read lazily (app.tabular.iter_rows, as `hyperlaw fit
    --csv` reads them, so both number a row by its line): `columns` names the CSV column of each of
    FIELDS (None: absent; n_params and loss are required, and tokens or flops), `group` the column
    naming each row's run (None: every row is a run of its own)."""
    columns = [*columns, group]
    wanted = [name for name in columns if name]
    # Each row's cells in FIELDS order and its group, None where there is no column: one C call per row.
    pick = itemgetter(*(wanted.index(name) if name else len(wanted) for name in columns))

    def numbered() -> Iterator[tuple[int, Sequence[Any]]]:
        for line, cells in iter_rows(lines, wanted, source):
            yield line, pick((*cells, None))

    shown = [None if name is None else f"column {name!r}" for name in columns[: len(FIELDS)]]
    return Source(
        rows=numbered(),
        where=lambda line: f"{source} line {line}",
        names=shown,
        group_name=f"column {group!r}",
    )


# ---------------------------------------------------------------------------- checking a row


_INF = float("inf")
# A value's type -> how it becomes a float, on the fast path; any other type (bool, list, dict,
# None from a JSON null is handled before) takes the slow path, which names what is wrong.
_TO_FLOAT = {str: float, float: float, int: float}


def _checked(number: int, raw: Sequence[Any], source: Source) -> tuple[Any, ...]:
    """(n_params, tokens, flops, flops_6nd, loss, lr, batch_tokens, group) of one row, or InvalidInput."""
    *raw, group = raw
    if group is not None and (type(group) is not str or not 0 < len(group) <= MAX_GROUP or "\0" in group):
        group = _group(group, number, source)
    try:
        values = [None if v is None or v == "" else _TO_FLOAT[type(v)](v) for v in raw]
        for v in values:
            if v is not None and not 0.0 < v < _INF:  # also NaN
                values = None
                break
    except (KeyError, ValueError, OverflowError):
        values = None
    if values is None:
        # The slow path, value by value: it raises naming the first bad one.
        values = [_number(value, number, index, source) for index, value in enumerate(raw)]
    n, d, c, loss, lr, batch = values
    if loss is None:
        raise _bad(number, 3, source, "has no value: every run needs its final loss")
    if (n is None) + (d is None) + (c is None) > 1:
        raise InvalidInput(
            f"{source.where(number)}: give two of n_params, tokens and flops (C = 6ND gives the third)",
            field="n_params",
        )
    if n is None:
        n = c / (6.0 * d)
    if d is None:
        d = c / (6.0 * n)
    flops_6nd = 6.0 * n * d
    return n, d, c if c is not None else flops_6nd, flops_6nd, loss, lr, batch, group


def _group(value: Any, number: int, source: Source) -> str | None:
    """A row's group as stored: text of 1..MAX_GROUP characters (a whole number becomes its digits);
    None when empty."""
    where = f"{source.where(number)}, {source.group_name}"
    if value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidInput(
            f"{where}: {_quoted(value)} is not a run name (text or a whole number)", field="group"
        )
    if len(value) > MAX_GROUP:
        raise InvalidInput(f"{where}: {_quoted(value)} is longer than {MAX_GROUP} characters", field="group")
    if "\0" in value:
        raise InvalidInput(f"{where}: {_quoted(value)} holds a NUL character", field="group")
    return value


def _number(value: Any, number: int, index: int, source: Source) -> float | None:
    """A positive finite float from a CSV cell or a JSON value; None when empty or absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):  # JSON true would otherwise pass as 1
        raise _bad(number, index, source, f"is {str(value).lower()}, not a number")
    if isinstance(value, int | float):
        try:
            result = float(value)
        except OverflowError:
            raise _bad(number, index, source, "is too large for a number") from None
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            raise _bad(number, index, source, f"{_quoted(value)} is not a number") from None
    else:
        raise _bad(number, index, source, f"{_quoted(value)} is not a number")
    if not (math.isfinite(result) and result > 0):
        raise _bad(number, index, source, f"{_quoted(value)} is not a positive finite number")
    return result


def _quoted(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_QUOTED else f"{text[:MAX_QUOTED]}… ({len(text)} characters)"


def _bad(number: int, index: int, source: Source, problem: str) -> InvalidInput:
    name = source.names[index] or repr(FIELDS[index])
    return InvalidInput(f"{source.where(number)}, {name}: {problem}", field=FIELDS[index])


# ---------------------------------------------------------------------------- writing a batch

Writer = Callable[[Connection, int, datetime, list[tuple], str | None], list[int]]


def _writer_for(connection: Connection) -> Writer:
    dialect = connection.dialect.name
    if dialect == "sqlite":
        return _write_sqlite
    if dialect == "postgresql":
        return _write_postgresql
    raise RuntimeError(f"no bulk import for dialect {dialect!r}")


def _rows(ids: Iterable[int], study_id: int, stamp: Any, values: list[tuple]) -> Iterator[tuple]:
    for run_id, (n, d, c, c6, loss, lr, batch, group) in zip(ids, values, strict=True):
        yield run_id, study_id, "done", n, d, c, c6, lr, batch, loss, loss, 0, stamp, stamp, group


def _write_sqlite(
    connection: Connection, study_id: int, stamp: datetime, values: list[tuple], key: str | None
) -> list[int]:
    """One compiled INSERT through sqlite3's executemany (the loop over rows runs in C).

    The ids are given, not left to SQLite: the batch's first row is inserted alone, which takes the
    write lock and an id above every other (SQLite gives max(rowid) + 1), so the ids after it are
    free until the transaction ends.
    """
    # The format SQLAlchemy stores SQLite DateTime in; the same timestamp for every row.
    text_stamp = stamp.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    first, *rest = values
    [first_row] = _rows([None], study_id, stamp, [first])
    given = dict(zip(_COLUMNS[1:], first_row[1:], strict=True))
    given.update(idempotency_key=key, submission_index=0 if key else None)
    first_id = connection.execute(insert(_TABLE).values(given).returning(_TABLE.c.id)).scalar_one()
    ids = list(range(first_id, first_id + len(values)))
    if rest:
        connection.exec_driver_sql(_insert_sql(connection), list(_rows(ids[1:], study_id, text_stamp, rest)))
    return ids


def _write_postgresql(
    connection: Connection, study_id: int, stamp: datetime, values: list[tuple], key: str | None
) -> list[int]:
    """COPY the batch into `runs`, with ids taken from the table's sequence first (one statement),
    so they are known without RETURNING and stay right under concurrent writers."""
    raw = connection.connection.driver_connection
    naive = stamp.replace(tzinfo=None)
    with raw.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('runs', 'id')) FROM generate_series(1, %s)", (len(values),)
        )
        ids = [row[0] for row in cursor.fetchall()]
        columns = ", ".join(_COLUMNS)
        with cursor.copy(f"COPY runs ({columns}) FROM STDIN") as copy:
            copy.write(_copy_text(ids, study_id, naive.isoformat(" "), values))
        if key:
            cursor.execute(
                "UPDATE runs SET idempotency_key = %s, submission_index = 0 WHERE id = %s", (key, ids[0])
            )
    return ids


def _copy_text(ids: list[int], study_id: int, stamp: str, values: list[tuple]) -> str:
    """The batch in COPY's text format, built in one pass: psycopg's write_row converts each value
    on its own, several times the cost. Every value is an int, a finite float, None (\\N) or a
    group's text (escaped)."""
    lines = []
    for run_id, (n, d, c, c6, loss, lr, batch, group) in zip(ids, values, strict=True):
        lr_text = "\\N" if lr is None else repr(lr)
        batch_text = "\\N" if batch is None else repr(batch)
        group_text = "\\N" if group is None else group.translate(_COPY_ESCAPES)
        lines.append(
            f"{run_id}\t{study_id}\tdone\t{n!r}\t{d!r}\t{c!r}\t{c6!r}\t{lr_text}\t{batch_text}\t"
            f"{loss!r}\t{loss!r}\t0\t{stamp}\t{stamp}\t{group_text}\n"
        )
    return "".join(lines)


# What COPY's text format escapes in a value: the backslash, and the characters that end a value or row.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


_SQL: dict[str, str] = {}


def _insert_sql(connection: Connection) -> str:
    """The Core INSERT of _COLUMNS, compiled once per dialect, for the driver's executemany."""
    dialect = connection.dialect
    if dialect.name not in _SQL:
        compiled = insert(_TABLE).compile(dialect=dialect, column_keys=list(_COLUMNS))
        if tuple(compiled.positiontup) != _COLUMNS:
            raise RuntimeError(f"the runs INSERT binds {compiled.positiontup}, not {_COLUMNS}")
        _SQL[dialect.name] = compiled.string
    return _SQL[dialect.name]
