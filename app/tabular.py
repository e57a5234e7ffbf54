"""Runs from CSV text: the column conventions shared by `hyperlaw fit` and the import API.

A run table has one row per run with N (parameters), D (tokens) or C (training FLOPs, then
D = C / 6N) and the final loss; column names are options. Errors name the row and the column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter

import numpy as np


class TableError(ValueError):
    """A run table that cannot be read: the message says which row or column and what to fix."""


@dataclass(frozen=True)
class Columns:
    """Which CSV columns hold what; c_col replaces d_col when given."""

    n_col: str = "N"
    d_col: str = "D"
    loss_col: str = "loss"
    c_col: str | None = None


def iter_rows(
    lines: Iterable[str], wanted: Sequence[str], source: str = "CSV"
) -> Iterator[tuple[int, tuple[str, ...]]]:
    """(line number, the wanted columns' cells as a tuple) for each data row of CSV text given line by line,
    read lazily: memory does not grow with the table. The header is line 1; a row's number is the
    line it ends on, so it is the number an editor shows (blank lines are skipped, and counted).
    The cells are strings, unchecked; a row shorter than the header has "" in its missing cells.
    Errors (a missing column, a line that is not CSV, text that is not UTF-8) are TableErrors."""
    reader = csv.reader(lines)
    try:
        header = next(reader, None) or []
        wanted = list(wanted)
        missing = [name for name in wanted if name not in header]
        if missing:
            shown = ", ".join(repr(_short(h)) for h in header[:50]) or "(none)"
            raise TableError(
                f"{source} has no column {', '.join(repr(_short(m)) for m in missing)}; its columns are "
                f"{shown}: name the right ones with the column options"
            )
        where = [header.index(name) for name in wanted]
        width = max(where, default=-1) + 1
        pick = itemgetter(*where) if len(where) > 1 else (lambda row: (row[where[0]],) if where else ())
        for row in reader:
            if not row:
                continue
            if len(row) < width:
                row = row + [""] * (width - len(row))
            yield reader.line_num, pick(row)
    except csv.Error as error:
        raise TableError(f"{source} line {reader.line_num + 1} is not valid CSV: {error}") from None
    except UnicodeDecodeError as error:
        raise TableError(
            f"{source} is not UTF-8 text (byte 0x{error.object[error.start]:02x} after line "
            f"{reader.line_num}): save it as UTF-8"
        ) from None


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def read_columns(text: str, wanted: Iterable[str], source: str = "CSV") -> dict[str, np.ndarray]:
    """The named numeric columns of CSV text as float arrays, checked cell by cell."""
    wanted = list(wanted)
    values: dict[str, list[float]] = {name: [] for name in wanted}
    for line, cells in iter_rows(io.StringIO(text, newline=""), wanted, source):
        for name, cell in zip(wanted, cells, strict=True):
            try:
                values[name].append(float(cell.strip()))
            except ValueError:
                raise TableError(
                    f"{source} line {line}, column {name!r}: {_short(cell.strip())!r} is not a number"
                ) from None
    if not values[wanted[0]]:
        raise TableError(f"{source} has a header but no rows")
    return {name: np.asarray(column) for name, column in values.items()}


def read_runs(
    text: str, columns: Columns, source: str = "CSV", need_tokens: bool = True
) -> dict[str, np.ndarray]:
    """N, D and loss arrays of a run table (D derived from C = 6ND when columns.c_col is set)."""
    wanted = [columns.n_col, columns.loss_col]
    if need_tokens or columns.c_col:
        wanted.append(columns.c_col or columns.d_col)
    table = read_columns(text, wanted, source)
    runs = {"N": table[columns.n_col], "loss": table[columns.loss_col]}
    if columns.c_col:
        runs["C"] = table[columns.c_col]
    elif need_tokens:
        runs["D"] = table[columns.d_col]
    return runs
