"""Restoring stored results: one function that turns any result's to_dict() back into its object,
so a service can store fits of every kind in one column and predict from them without refitting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fitting.batch_size import CriticalBatchCurve
from fitting.frontier import Frontier
from fitting.result import Fit, OptimumFit

Restored = Fit | OptimumFit | CriticalBatchCurve | Frontier

# The "kind" each result's to_dict() writes, and the class that reads it back.
RESTORERS: dict[str, Callable[[dict[str, Any]], Restored]] = {
    "loss": Fit.from_dict,
    "optimum": OptimumFit.from_dict,
    "critical_batch": CriticalBatchCurve.from_dict,
    "frontier": Frontier.from_dict,
}


def load_fit(data: dict[str, Any]) -> Restored:
    """The Fit, OptimumFit, CriticalBatchCurve or Frontier whose to_dict() gave `data`, by its "kind"."""
    if not isinstance(data, dict):
        raise ValueError(f"a stored fit is a dict from to_dict(), got {type(data).__name__}")
    kind = data.get("kind")
    restore = RESTORERS.get(kind) if isinstance(kind, str) else None
    if restore is None:
        raise ValueError(
            f"a stored fit needs a 'kind' (one of {', '.join(RESTORERS)}): was it made by to_dict()? "
            f'got kind {kind!r}; a loss law\'s fit stored without one needs "kind": "loss" added'
        )
    return restore(data)
