"""Restoring stored results: one function that turns any result's to_dict() back into its object,
so a service can store fits of every kind in one column and predict from them without refitting."""

from __future__ import annotations

from typing import Any

from fitting.critical_batch import CriticalBatchCurve
from fitting.frontier import Frontier
from fitting.hparams import HPARAM_LAWS
from fitting.result import Fit, OptimumFit

Restored = Fit | OptimumFit | CriticalBatchCurve | Frontier


def load_fit(data: dict[str, Any]) -> Restored:
    """The Fit, OptimumFit, CriticalBatchCurve or Frontier whose to_dict() gave `data`.

    Chosen by the stored keys: kind "critical_batch" is a B_crit(L) curve, kind "frontier" an
    approach 1 or 2 compute-optimal frontier, law "lr_opt" or
    "batch_opt" a hyperparameter-optimum law, any other law a loss law.
    """
    if not isinstance(data, dict):
        raise ValueError(f"a stored fit is a dict from to_dict(), got {type(data).__name__}")
    if data.get("kind") == "critical_batch":
        return CriticalBatchCurve.from_dict(data)
    if data.get("kind") == "frontier":
        return Frontier.from_dict(data)
    if data.get("law") in HPARAM_LAWS:
        return OptimumFit.from_dict(data)
    if "law" not in data:
        raise ValueError(
            "a stored fit needs a 'law' (or kind 'critical_batch') key: was it made by to_dict()?"
        )
    return Fit.from_dict(data)
