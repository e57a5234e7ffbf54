"""The least data each fitting function accepts, read from the constants its own checks use, so a
caller (a service choosing runs, a planner sizing a study) never keeps a second copy that drifts."""

from __future__ import annotations

from dataclasses import dataclass

from fitting._validate import runs_needed
from fitting.batch_size import MIN_BATCH_SIZES, MIN_TARGETS
from fitting.bowl import BOWL_MIN_VALUES, bowl_runs_needed
from fitting.entry import candidate_laws, known_laws
from fitting.frontier import MIN_BUDGETS, MIN_CURVES, MIN_POINTS_PER_CURVE
from fitting.optimum import FORMS, HPARAM_LAWS, sweeps_needed

FRONTIER_LAWS: tuple[str, ...] = ("frontier_isoflop", "frontier_envelope")


@dataclass(frozen=True)
class Minimum:
    """The least data fit(law) (or the named fitting function) accepts.

    groups are sweeps for lr_opt / batch_opt, compute budgets for frontier_isoflop, batch sizes for
    critical_batch (each reaching runs_per_group target losses) and curves (runs) for
    frontier_envelope (each of runs_per_group points). Meeting the counts is necessary, not
    sufficient: a sweep or budget also needs an interior optimum, a B_crit inside the batch sizes.
    """

    runs: int  # rows in all
    groups: int = 0
    runs_per_group: int = 0  # rows a group needs to count
    values_per_group: int = 0  # distinct swept values a group needs (lr, batch or N)


def minimum_laws() -> tuple[str, ...]:
    """Names minimum() knows."""
    return (*known_laws(), *HPARAM_LAWS, "critical_batch", *FRONTIER_LAWS)


def minimum(law: str, form: str | None = None) -> Minimum:
    """The least data `law` accepts; form ("steplaw", "deepseek", "tokens" or "auto", the default) only for
    lr_opt / batch_opt, whose sweeps are counted for the default quadratic bowl with one swept axis."""
    if law in HPARAM_LAWS:
        form = "auto" if form is None else form
        if form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(FORMS)}, got {form!r}")
        return _grouped(sweeps_needed(law, form), bowl_runs_needed(1), BOWL_MIN_VALUES)
    if form is not None:
        raise ValueError(f"form is for {' and '.join(HPARAM_LAWS)}, not law {law!r}")
    if law in known_laws():
        return Minimum(runs=max(runs_needed(spec.n_params) for spec in candidate_laws(law)))
    if law == "critical_batch":
        # Every target needs MIN_BATCH_SIZES batch sizes reaching it, and MIN_TARGETS targets.
        return _grouped(MIN_BATCH_SIZES, MIN_TARGETS)
    if law == "frontier_isoflop":
        return _grouped(MIN_BUDGETS, bowl_runs_needed(1), BOWL_MIN_VALUES)
    if law == "frontier_envelope":
        return _grouped(MIN_CURVES, MIN_POINTS_PER_CURVE)
    raise ValueError(f"unknown law {law!r}: choose one of {', '.join(minimum_laws())}")


def _grouped(groups: int, runs_per_group: int, values_per_group: int = 0) -> Minimum:
    return Minimum(groups * runs_per_group, groups, runs_per_group, values_per_group)
