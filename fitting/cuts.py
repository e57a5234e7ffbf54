"""Nested refits that hold out the largest runs along one input, and the groups runs belong to.

A cut keeps the runs below the top `share` of one input's log range and refits on them; the
extrapolation check (fitting.holdout) and the prediction interval's error model
(fitting.extrapolation) both measure the law's error on the runs a cut held out. Runs may carry a
group (the run a checkpoint came from): a cut needs as many independent groups as the law has
parameters plus two, since checkpoints of one run are not independent runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fitting import _validate as check
from fitting.laws.base import Array, Law
from fitting.solve import solve_batch

# A refit needs three distinct values of the input it was cut along, or the exponent is a line
# through two points.
MIN_DISTINCT = 3


@dataclass(frozen=True)
class Cut:
    """One nested refit: the runs kept when the top `share` of input `axis` (row `row`) is held out."""

    axis: str
    row: int
    share: float
    kept: Array  # bool per run

    @property
    def held(self) -> Array:
        return ~self.kept


def group_codes(group: Any, n_rows: int) -> Array | None:
    """Integer codes 0..G-1 of each run's group, in order of first appearance; None when `group` is
    None. A missing group (None, NaN or "") makes its run a group of its own."""
    if group is None:
        return None
    values = list(np.asarray(group, dtype=object).ravel()) if not isinstance(group, list) else group
    if len(values) != n_rows:
        raise ValueError(
            f"group must give one value per run (the run id of each checkpoint), got {len(values)} for {n_rows} runs"
        )
    codes: dict[Any, int] = {}
    out = np.empty(n_rows, dtype=int)
    next_code = 0
    for i, value in enumerate(values):
        value = value.item() if isinstance(value, np.generic) else value
        if (
            value is None
            or (isinstance(value, str) and not value)
            or (isinstance(value, float) and np.isnan(value))
        ):
            out[i], next_code = next_code, next_code + 1
            continue
        try:
            if value not in codes:
                codes[value], next_code = next_code, next_code + 1
        except TypeError:
            raise ValueError(
                f"group labels must be numbers or strings (a run id), row {i} is {value!r}"
            ) from None
        out[i] = codes[value]
    return out


def independent_units(mask: Array, groups: Array | None) -> int:
    """How many independent runs the rows of `mask` are: their groups, or their count."""
    if groups is None:
        return int(mask.sum())
    return int(np.unique(groups[mask]).size)


def top_cuts(
    names: Sequence[str], logx: Array, shares: Sequence[float], n_params: int, groups: Array | None
) -> list[Cut]:
    """The refits that hold out the top `share` of each input's log range, in turn: only those that
    keep enough groups and distinct values to fit, and each distinct set of kept runs once."""
    cuts: list[Cut] = []
    for row, name in enumerate(names):
        top, bottom = logx[row].max(), logx[row].min()
        for share in shares:
            kept = ~(logx[row] > top - share * (top - bottom))
            if (
                kept.all()
                or independent_units(kept, groups) < check.runs_needed(n_params)
                or np.unique(logx[row][kept]).size < MIN_DISTINCT
                or any(np.array_equal(kept, other.kept) for other in cuts)
            ):
                continue
            cuts.append(Cut(name, row, share, kept))
    return cuts


def refit_cuts(
    law: Law, cuts: Sequence[Cut], logx: Array, target: Array, starts: Array, delta: float
) -> list[Array]:
    """The best raw parameters of each cut's refit, every cut from every start in one batched solve.

    Restarting from the full data's competitive minima suffices: dropping the largest runs moves
    the optimum, it does not create a better basin far from all of them.
    """
    if not cuts:
        return []
    starts = np.atleast_2d(starts)
    n_starts, n_rows = starts.shape[0], target.shape[0]
    weights = np.concatenate([np.broadcast_to(c.kept.astype(float), (n_starts, n_rows)) for c in cuts])
    solved = solve_batch(law, np.concatenate([starts] * len(cuts)), logx, target, weights, delta)
    best = []
    for index in range(len(cuts)):
        block = slice(index * n_starts, (index + 1) * n_starts)
        best.append(solved.theta[block][int(np.argmin(solved.objective[block]))])
    return best
