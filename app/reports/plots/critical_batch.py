"""The critical-batch law's figures: B_crit at each target loss with its interval beside the
gradient noise scale measured near it, and Kaplan's B_crit(L) = B*/L^(1/alpha_B) through them with
its band; then each target's steps-examples trade-off (McCandlish et al. 2018)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

import fitting
from app.db.tables import Fit
from app.law_kinds.base import LEVEL
from app.reports.plots import (
    DATA_COLOUR,
    PALETTE,
    Plot,
    band,
    error_bars,
    extrapolation,
    figure,
    interval_label,
    label,
    legend,
)

if TYPE_CHECKING:
    from app.runs import FitRun

NOISE_COLOUR = "#8e44ad"


def plots(fit: Fit, restored: Any, runs: list[FitRun]) -> list[Plot]:
    """B_crit against the loss, then the trade-offs it came from."""
    if not restored.per_target:
        return []
    context = (fit.result or {}).get("context", {}) if fit is not None else {}
    return [_against_loss(restored, context), _tradeoffs(restored, context)]


def _against_loss(curve: Any, context: dict[str, Any]) -> Plot:
    targets = [t for t in curve.per_target if t.target_loss is not None]
    losses = np.array([t.target_loss for t in targets], dtype=float)
    low, high = curve.loss_range
    fig, axes = figure(width=8.5, height=5.2)
    ax = axes[0, 0]
    # Lower losses are where a larger run goes: the law is drawn down to 90% of the lowest target.
    grid = np.linspace(losses.min() * 0.9, losses.max() * 1.03, 60)
    estimates = [curve.b_crit(float(loss), LEVEL) for loss in grid]
    band(
        ax,
        grid,
        _stack(estimates),
        label="B_crit(L) = B*/L^(1/alpha_B), fitted",
    )
    ax.set_title(
        f"B* = {interval_label(curve.b_star)} tokens, alpha_B = {interval_label(curve.alpha_b)}", fontsize=10
    )
    inside = [t for t in targets if not t.at_edge]
    edge = [t for t in targets if t.at_edge]
    for group, style in ((inside, {"color": DATA_COLOUR}), (edge, {"color": "#7f7f7f", "mfc": "white"})):
        if group:
            error_bars(
                ax,
                [t.target_loss for t in group],
                [t.b_crit.value for t in group],
                [t.b_crit.lo for t in group],
                [t.b_crit.hi for t in group],
                label="B_crit at a target loss (95% interval)"
                if group is inside
                else "B_crit outside the batch sizes tried (left out)",
                zorder=3,
                **style,
            )
    checks = [c for c in context.get("noise_scale") or [] if c.get("noise_scale")]
    if checks:
        medians = [c["noise_scale"]["median"] for c in checks]
        error_bars(
            ax,
            [c["target_loss"] for c in checks],
            medians,
            [c["noise_scale"]["min"] for c in checks],
            [c["noise_scale"]["max"] for c in checks],
            fmt="s",
            color=NOISE_COLOUR,
            label="noise scale B_simple near that loss (median, min-max)",
            zorder=3,
        )
    for i, batch in enumerate(context.get("batch_tokens") or []):
        ax.axhline(
            batch,
            color="#bdbdbd",
            linewidth=0.8,
            linestyle="--",
            label="batch sizes trained" if not i else None,
        )
    if math.isfinite(low):
        extrapolation(ax, grid[0], low, text="extrapolation: below the target losses")
    ax.set_yscale("log")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_xlabel(f"loss ({context.get('loss_source', 'eval')})")
    ax.set_ylabel("critical batch size B_crit, tokens")
    legend(ax, outside=True, ncols=2)
    size = context.get("n_params")
    return Plot(
        "Critical batch size against loss",
        fig,
        "B_crit = E_min/S_min at each target loss (McCandlish et al. 2018) from the runs"
        + (f" of N = {label(size)}" if size else "")
        + ", and Kaplan et al.'s B_crit(L) with its 95% band; B_simple estimates B_crit only up to a factor "
        "(McCandlish et al. 2018, sec. 2.2). Lower losses than the targets are extrapolation.",
    )


def _tradeoffs(curve: Any, context: dict[str, Any]) -> Plot:
    """Each target's fitted S = S_min (1 + B_crit/B), E = E_min (1 + B/B_crit) over the batch sizes,
    with the B_crit point (S = 2 S_min, E = 2 E_min) and its interval."""
    fig, axes = figure(width=8.5, height=5.2)
    ax = axes[0, 0]
    batches = np.asarray(context.get("batch_tokens") or [], dtype=float)
    for i, target in enumerate(t for t in curve.per_target if t.target_loss is not None):
        colour = PALETTE[i % len(PALETTE)]
        b_crit, s_min, e_min = target.b_crit.value, target.s_min.value, target.e_min.value
        low = batches.min() / 3 if batches.size else b_crit / 30
        high = batches.max() * 3 if batches.size else b_crit * 30
        batch = np.geomspace(low, high, 80)
        steps, examples = s_min * (1 + b_crit / batch), e_min * (1 + batch / b_crit)
        ax.plot(
            examples,
            steps,
            color=colour,
            linestyle="--" if target.at_edge else "-",
            label=f"L = {label(target.target_loss, 4)}",
        )
        error_bars(
            ax,
            [2 * e_min],
            [2 * s_min],
            [2 * target.s_min.lo],
            [2 * target.s_min.hi],
            color=colour,
            markersize=6,
        )
        if batches.size:
            ax.scatter(
                e_min * (1 + batches / b_crit),
                s_min * (1 + b_crit / batches),
                marker="|",
                s=120,
                color=colour,
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("examples (tokens) to reach the loss, E")
    ax.set_ylabel("optimizer steps to reach the loss, S")
    legend(ax, outside=True, ncols=5, title="target loss")
    return Plot(
        "Steps-examples trade-off per target loss",
        fig,
        "The fitted (S/S_min - 1)(E/E_min - 1) = 1 at each target loss; ticks mark the batch sizes trained, the "
        "dot B = B_crit (twice the minimum steps and examples, 95% interval of S_min); dashed: B_crit outside "
        "the batch sizes tried.",
    )


def _stack(estimates: list[Any]) -> Any:
    """Scalar Estimates along a grid as one Estimate of arrays."""
    value, lo, hi = (np.array([getattr(e, k) for e in estimates], dtype=float) for k in ("value", "lo", "hi"))
    return fitting.Estimate(value, lo, hi, LEVEL)
