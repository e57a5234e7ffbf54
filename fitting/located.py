"""How each sweep or IsoFLOP-budget optimum was located, named in the result: a law resting on
optima of the small-sweep rule is less certain than one on fitted bowls, and the reader should
see which it is without reading the warnings' prose."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# The methods, in words for a reader (fitting.bowl fits the bowls and holds the small-sweep rule;
# "band" is fitting.optimum's method="band", the Step Law authors' recipe).
LOCATED_BY: dict[str, str] = {
    "quadratic": "the quadratic bowl fitted to the runs near the best one",
    "cubic": "the asymmetric (cubic) bowl fitted to the runs near the best one",
    "vertex": "the vertex of the parabola through the best run and its two neighbours (small-sweep rule)",
    "centre": "the centre of the runs near the best loss (small-sweep rule)",
    "band": "the centre of the runs within the band of the best loss (Step Law recipe)",
}
SMALL_SWEEP_RULES = ("vertex", "centre")


def located_counts(optima: Iterable[Any]) -> dict[str, int]:
    """How many of the optima a law rests on (status "found") each method located, by method name."""
    counts: dict[str, int] = {}
    for optimum in optima:
        if optimum.status == "found" and optimum.located_by:
            counts[optimum.located_by] = counts.get(optimum.located_by, 0) + 1
    return dict(sorted(counts.items()))


def located_summary(counts: dict[str, int], noun: str) -> str:
    """One sentence: how many `noun` optima the law rests on, and how many each method located."""
    total = sum(counts.values())
    if not total:
        return ""
    methods = "; ".join(f"{count} by {LOCATED_BY.get(name, name)}" for name, count in counts.items())
    return f"The law rests on {total} {noun} optima: {methods}."
