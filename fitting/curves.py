"""Loss-curve utilities: smoothing a curve, the steps it took to reach a loss, and the target losses
every curve of a set reaches: the inputs the critical-batch fits read off training curves."""

from __future__ import annotations

from typing import Any

import numpy as np

from fitting import _validate as check
from fitting.laws.base import Array


def smooth_loss(loss: Any, window: int = 1) -> Array:
    """Centred moving average of a loss curve over `window` points (odd; shrinking at the ends).

    Centred, so it neither lags behind the curve (as an exponential average does, making every
    target look reached later) nor picks the lucky low points of a noisy curve (as a running
    minimum does, making every target look reached earlier). window=1 leaves the curve as is:
    eval losses are already averages over many batches.
    """
    values = np.asarray(loss, dtype=float)
    window = check.non_negative_int("window", window)
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number of points, got {window}")
    if window == 1 or values.size < 2:
        return values.copy()
    half = window // 2
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(values.size)
    lo, hi = np.maximum(index - half, 0), np.minimum(index + half + 1, values.size)
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)


def steps_to_target(steps: Any, loss: Any, target_loss: Any, *, window: int = 1) -> Array:
    """Steps a run needed to first reach each target loss, from its (smoothed) loss curve.

    The first point at or below the target and the point before it bracket the crossing, which is
    interpolated linearly in (log step, log loss): loss curves are close to power laws in steps
    (Kaplan et al. 2020, eq. 1.6), so this is exact for a power law between two points. NaN for a
    target the curve never reaches, or reaches already at its first point (the crossing is unknown).
    """
    step_values = np.asarray(steps, dtype=float)
    curve = smooth_loss(loss, window)
    targets = np.atleast_1d(np.asarray(target_loss, dtype=float))
    if step_values.shape != curve.shape or step_values.ndim != 1:
        raise ValueError(
            f"steps and loss must be one value per curve point (got {step_values.shape} and {curve.shape})"
        )
    if step_values.size and np.any(np.diff(step_values) <= 0):
        raise ValueError("steps must increase strictly along the curve")
    if np.any(~np.isfinite(curve)) or np.any(curve <= 0):
        raise ValueError("loss must be positive and finite at every curve point")
    out = np.full(targets.shape, np.nan)
    for k, target in enumerate(targets):
        below = np.flatnonzero(curve <= target)
        if below.size == 0 or below[0] == 0:
            continue
        i = below[0]
        x0, x1 = step_values[i - 1], step_values[i]
        y0, y1 = np.log(curve[i - 1]), np.log(curve[i])
        fraction = 1.0 if y0 == y1 else (y0 - np.log(target)) / (y0 - y1)
        if x0 > 0:
            out[k] = float(np.exp(np.log(x0) + fraction * (np.log(x1) - np.log(x0))))
        else:  # a point at step 0 has no log: linear in steps instead
            out[k] = float(x0 + fraction * (x1 - x0))
    return out


def shared_targets(curves: Any, *, count: int = 5, skip: float = 0.1) -> Array:
    """`count` target losses every curve reaches, evenly spaced in log loss, for critical_batch_curve.

    curves: the smoothed loss curves (one array each). The lowest target is just above the highest
    final minimum (every run gets there); the highest is the lowest loss any curve had at `skip` of
    its points (and not before its third point), so every target is crossed after the early
    transient and between two measured points. Empty when the curves share no such range.
    """
    count = check.non_negative_int("count", count)
    if not 0.0 <= skip < 1.0:
        raise ValueError(f"skip must be in [0, 1), got {skip!r}")
    arrays = [np.asarray(c, dtype=float) for c in curves]
    if count < 1 or not arrays or any(a.size < 4 for a in arrays):
        return np.empty(0)
    low = max(float(np.min(a)) for a in arrays)
    high = min(float(a[max(2, int(np.ceil(skip * (a.size - 1))))]) for a in arrays)
    if not high > low * (1 + 1e-3):
        return np.empty(0)
    # Stay a little inside both ends, so no target sits exactly on a curve's lowest point.
    margin = 0.05 * (np.log(high) - np.log(low))
    return np.exp(np.linspace(np.log(low) + margin, np.log(high) - margin, count))
