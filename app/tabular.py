"""Runs from CSV text: the column conventions shared by `hyperlaw fit` and the import API.

A run table has one row per run with N (parameters), D (tokens) or C (training FLOPs, then
D = C / 6N) and the final loss; column names are options. Errors name the row and the column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

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


def read_columns(text: str, wanted: Iterable[str], source: str = "CSV") -> dict[str, np.ndarray]:
    """The named numeric columns of CSV text as float arrays, checked cell by cell."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    wanted = list(wanted)
    missing = [name for name in wanted if name not in header]
    if missing:
        raise TableError(
            f"{source} has no column {', '.join(repr(m) for m in missing)}; its columns are "
            f"{', '.join(repr(h) for h in header) or '(none)'}: name the right ones with the column options"
        )
    values: dict[str, list[float]] = {name: [] for name in wanted}
    for line, row in enumerate(reader, start=2):
        for name in wanted:
            cell = (row.get(name) or "").strip()
            try:
                values[name].append(float(cell))
            except ValueError:
                raise TableError(f"{source} line {line}, column {name!r}: {cell!r} is not a number") from None
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
