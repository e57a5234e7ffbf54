"""Words for a fit's extrapolation check, one sentence per direction (the largest models, the largest
token counts), shared by the CLI, the reports and the dashboard so they say the same thing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

AXIS_NAMES = {"N": "largest model sizes", "D": "largest token counts", "C": "largest budgets"}


def describe(holdout: Mapping[str, Any] | None) -> list[str]:
    """One line per held-out direction of a stored holdout (Holdout.to_dict()); a check stored before
    directions were recorded gives its one combined line. Empty when there was no check."""
    if not holdout or holdout.get("relative_error") is None:
        return []
    directions = holdout.get("directions") or {}
    if not directions:
        return [
            f"refitted without its {holdout['n_heldout']} largest run(s), the law missed them by "
            f"{_pct(holdout['relative_error'])} on average (at most {_pct(holdout['max_relative_error'])}; "
            f"{_pct(holdout['in_sample_relative_error'])} on the runs it saw)"
        ]
    return [
        f"refitted without the {AXIS_NAMES.get(axis, 'largest ' + axis)} ({axis} >= {d['threshold']:.3g}, "
        f"{d['n_heldout']} runs), the law missed them by {_pct(d['relative_error'])} on average "
        f"(at most {_pct(d['max_relative_error'])}; {_pct(d['in_sample_relative_error'])} on the runs it saw)"
        for axis, d in directions.items()
    ]


def describe_candidates(candidates: Mapping[str, Any] | None, errors: Mapping[str, Any] | None) -> str | None:
    """The compared forms with their held-out error, per direction where it was recorded."""
    if not candidates:
        return None
    parts = []
    for name, score in candidates.items():
        by_axis = (errors or {}).get(name) or {}
        detail = ", ".join(f"{axis} {_pct(e)}" for axis, e in by_axis.items() if e is not None)
        parts.append(f"{name} {'-' if score is None else _pct(score)}" + (f" ({detail})" if detail else ""))
    return "; ".join(parts)


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"
