"""Leave-largest-out refits in the directions users extrapolate: a larger model, more tokens.

A law is asked for the loss of a model larger than any trained, or trained on more tokens. So the
extrapolation check holds out, for each input in turn, every run beyond the top `share` of that
input's log range (all runs of the largest model sizes; separately, all runs of the largest token
counts), refits on the rest and measures the relative error on the held-out runs. `fit("auto")`
chooses the form whose mean error over the directions is smallest (the largest-*compute* runs
mix both directions and understate either).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fitting.cuts import refit_cuts, top_cuts
from fitting.laws.base import Array, Law
from fitting.result import DirectionHoldout, Holdout
from fitting.search import SearchResult, global_search

# The top share of an input's log range held out by default: 1/6, the nearer of the two cuts the
# prediction interval's error model measures (fitting.extrapolation).
DEFAULT_SHARE = 1.0 / 6.0


def holdout_check(
    law: Law,
    names: Sequence[str],
    logx: Array,
    target: Array,
    delta: float,
    starts: Array,
    share: float,
    groups: Array | None = None,
) -> Holdout | None:
    """Refit without the top `share` of each input's log range in turn; None when no direction can
    be held out and still leave enough runs to fit."""
    if share <= 0:
        return None
    cuts = top_cuts(names, logx, (share,), law.n_params, groups)
    if not cuts:
        return None
    directions = {}
    for cut, theta in zip(cuts, refit_cuts(law, cuts, logx, target, starts, delta), strict=True):
        relative = np.abs(np.exp(law.log_value(theta[None, :], logx)[0] - target) - 1.0)
        directions[cut.axis] = DirectionHoldout(
            axis=cut.axis,
            threshold=float(np.exp(logx[cut.row][cut.held].min())),
            n_heldout=int(cut.held.sum()),
            relative_error=float(relative[cut.held].mean()),
            max_relative_error=float(relative[cut.held].max()),
            in_sample_relative_error=float(relative[cut.kept].mean()),
        )
    held = np.zeros(target.shape[0], dtype=bool)
    for cut in cuts:
        held |= cut.held
    scale = law.log_scale(logx)
    return Holdout(
        n_heldout=int(held.sum()),
        scale_threshold=float(np.exp(scale[held].min())),
        relative_error=float(np.mean([d.relative_error for d in directions.values()])),
        max_relative_error=float(max(d.max_relative_error for d in directions.values())),
        in_sample_relative_error=float(np.mean([d.in_sample_relative_error for d in directions.values()])),
        directions=directions,
    )


@dataclass(frozen=True)
class Selection:
    """The form `auto` chose, its search and holdout, and every candidate's errors."""

    law: Law
    search: SearchResult
    holdout: Holdout | None
    scores: dict[str, float | None]  # mean held-out error over the compared directions (None: unmeasured)
    errors: dict[str, dict[str, float]]  # per candidate, per direction: the mean held-out error


def select(
    laws: Sequence[Law],
    names: Sequence[str],
    logx: Array,
    target: Array,
    delta: float,
    share: float,
    groups: Array | None = None,
) -> Selection:
    """Fit every candidate form and hold out each direction; the smallest mean error wins.

    Forms are compared on the directions every measurable form could hold out (a form with more
    parameters may have too few runs left in one direction); a form with none is never chosen.
    """
    fitted = []
    for law in laws:
        search = global_search(law, logx, target, delta)
        holdout = holdout_check(law, names, logx, target, delta, search.basins, share, groups)
        fitted.append((law, search, holdout))
    errors = {
        law.name: {axis: d.relative_error for axis, d in (holdout.directions if holdout else {}).items()}
        for law, _, holdout in fitted
    }
    measured = [set(e) for e in errors.values() if e]
    common = set.intersection(*measured) if measured else set()
    scores: dict[str, float | None] = {}
    for law, _, _ in fitted:
        own = errors[law.name]
        if not own:
            scores[law.name] = None
            continue
        scores[law.name] = float(np.mean([own[a] for a in sorted(common)] if common else list(own.values())))
    ranked = [item for item in fitted if scores[item[0].name] is not None]
    law, search, holdout = min(ranked or fitted, key=lambda item: scores[item[0].name] or np.inf)
    return Selection(law, search, holdout, scores, errors)
