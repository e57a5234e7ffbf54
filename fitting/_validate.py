"""Input checks for the public entry points: each failure is a ValueError that names the
argument, says what is wrong with it and how to fix it. Computation code after these checks
works on clean float arrays and never re-checks."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from fitting.laws.base import Array


def as_positive_array(name: str, values: object) -> Array:
    """A 1-D float array of finite, strictly positive values, or a ValueError saying which row fails."""
    if type(values) is float and 0.0 < values < math.inf:
        return np.array([values])  # one valid number (a service query): nothing to report
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a sequence of numbers: {exc}") from None
    if array.ndim == 0:
        array = array[None]
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}: pass one value per run")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ValueError(
            f"{name} has {bad.size} NaN or infinite value(s) (first at row {bad[0]}): drop those runs or fix the data"
        )
    bad = np.flatnonzero(array <= 0)
    if bad.size:
        raise ValueError(
            f"{name} must be positive, but row {bad[0]} is {float(array[bad[0]])!r} ({bad.size} such row(s)): "
            "scaling laws are fitted in log space, so drop or fix those runs"
        )
    return array


def same_length(arrays: Mapping[str, Array]) -> int:
    """The common length of the named arrays, or a ValueError listing every length."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        listed = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ValueError(f"inputs must have one value per run, but their lengths differ ({listed})")
    return next(iter(lengths.values()))


def positive_arrays(**named: object) -> tuple[dict[str, Array], int]:
    """Each given (non-None) argument as a positive float array, all of one length; None ones are
    left out. Returns the arrays in argument order and their common length."""
    arrays = {name: as_positive_array(name, values) for name, values in named.items() if values is not None}
    return arrays, same_length(arrays)


def runs_needed(n_params: int) -> int:
    """Runs a law of n_params parameters needs: two more, or no degrees of freedom are left for the
    error and the bootstrap."""
    return n_params + 2


def enough_points(n_points: int, n_params: int, law: str) -> None:
    """At least runs_needed(n_params) runs, or a ValueError saying how many more."""
    needed = runs_needed(n_params)
    if n_points < needed:
        raise ValueError(
            f"law {law!r} has {n_params} parameters and needs at least {needed} runs, got {n_points}: "
            f"add {needed - n_points} more run(s) or choose a law with fewer parameters (e.g. 'power')"
        )


def distinct_values(name: str, array: Array, law: str) -> None:
    """An input must take at least two distinct values, or its exponent is not identified."""
    if np.unique(array).size < 2:
        raise ValueError(
            f"{name} takes a single value ({array[0]:.4g}) in every run, so law {law!r} cannot estimate how loss "
            f"scales with {name}: add runs at other values of {name}, or fit 'power' against the other input"
        )


def non_negative_int(name: str, value: object) -> int:
    """A non-negative integer argument (bootstrap count, seed)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def positive_float(name: str, value: object) -> float:
    """A finite positive float argument (Huber delta, compute budget)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not np.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return number


def level_in_unit_interval(level: float) -> float:
    """A confidence level strictly between 0 and 1."""
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    return float(level)
