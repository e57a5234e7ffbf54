"""The compute-optimal frontier's figures (Hoffmann et al. 2022 approaches 1 and 2): N_opt(C)
and D_opt(C) with their bands, extrapolated a hundredfold past the largest run, beside the runs or
the budgets' optima they came from; for approach 2 also the IsoFLOP profiles with their minima."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

import fitting
from app import runs as runs_module
from app.db.tables import Fit
from app.law_kinds.base import LEVEL
from app.law_kinds.frontier import budgets_of
from app.reports.plots import (
    DATA_COLOUR,
    PALETTE,
    Plot,
    band,
    error_bars,
    extrapolation,
    figure,
    fitted_range,
    interval_label,
    label,
    legend,
)

if TYPE_CHECKING:
    from app.runs import FitRun

REACH = 100.0


def plots(fit: Fit, restored: Any, runs: list[FitRun]) -> list[Plot]:
    """N_opt(C) and D_opt(C); approach 2 adds its IsoFLOP profiles."""
    out = [_frontier(restored, runs)]
    if restored.approach == 2 and runs:
        out.append(_profiles(restored, runs))
    return out


def _frontier(frontier: Any, runs: list[FitRun]) -> Plot:
    low, high = frontier.compute_range
    grid = np.geomspace(low / 3, high * REACH, 100)
    n_opt, d_opt = frontier.predict(grid, LEVEL)
    fig, axes = figure(ncols=2, width=11, height=5.0)
    panels = (
        (axes[0, 0], n_opt, "N_opt, parameters", "n_params", frontier.exponent_n, frontier.coef_n, "a"),
        (axes[0, 1], d_opt, "D_opt, training tokens", "tokens", frontier.exponent_d, frontier.coef_d, "b"),
    )
    for ax, estimate, ylabel, attr, exponent, coef, symbol in panels:
        band(ax, grid, estimate, label="fitted power law")
        ax.set_title(f"{symbol} = {interval_label(exponent)}, k = {interval_label(coef)}", fontsize=9)
        if frontier.approach == 2:
            found = [o for o in frontier.optima if o.status == "found" and getattr(o, attr) is not None]
            if found:
                error_bars(
                    ax,
                    [o.compute for o in found],
                    [getattr(o, attr).value for o in found],
                    [getattr(o, attr).lo for o in found],
                    [getattr(o, attr).hi for o in found],
                    color=DATA_COLOUR,
                    label="budget's optimum (95% interval)",
                    zorder=3,
                )
            left_out = [o for o in frontier.optima if o not in found]
            for i, o in enumerate(left_out):
                ax.axvline(
                    o.compute,
                    color="#7f7f7f",
                    linestyle="--",
                    linewidth=0.8,
                    label=f"budget left out ({o.status.replace('_', ' ')})" if not i else None,
                )
        elif runs:
            n_params = np.array([runs_module.n_for_laws(r) for r in runs], dtype=float)
            tokens = np.array([r.tokens for r in runs], dtype=float)
            ax.scatter(
                fitting.training_compute(n_params, tokens),
                n_params if attr == "n_params" else tokens,
                s=14,
                color="#95a5a6",
                label="runs at their final compute",
                zorder=2,
            )
        fitted_range(ax, low, high)
        extrapolation(ax, high, grid[-1], text="extrapolation")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(grid[0], grid[-1])
        ax.set_xlabel("C = 6ND, training FLOPs")
        ax.set_ylabel(ylabel)
    legend(axes[0, 0], outside=True, ncols=2)
    approach = {1: "1 (the lower envelope of the loss curves)", 2: "2 (IsoFLOP profiles)"}[frontier.approach]
    return Plot(
        "Compute-optimal N and D",
        fig,
        f"Hoffmann et al. 2022 approach {approach}: N_opt = k C^a and D_opt = k C^b with 95% bootstrap "
        f"bands; dotted lines mark the fitted compute range ({label(low)} to {label(high)} FLOPs), the shaded "
        "region is extrapolation.",
    )


def _profiles(frontier: Any, runs: list[FitRun]) -> Plot:
    """Loss against N on each IsoFLOP budget, with the budget's optimum N and its interval."""
    budgets = np.asarray(budgets_of(runs), dtype=float)
    n_params = np.array([runs_module.n_for_laws(r) for r in runs], dtype=float)
    loss = np.array([r.loss for r in runs], dtype=float)
    fig, axes = figure(width=8.5, height=5.2)
    ax = axes[0, 0]
    for i, budget in enumerate(sorted(set(budgets))):
        colour = PALETTE[i % len(PALETTE)]
        mine = budgets == budget
        order = np.argsort(n_params[mine])
        ax.plot(
            n_params[mine][order],
            loss[mine][order],
            "o-",
            color=colour,
            markersize=4,
            linewidth=1,
            label=f"C = {label(budget, 2)}",
        )
        optimum = next((o for o in frontier.optima if math.isclose(o.compute, budget, rel_tol=1e-9)), None)
        if optimum is not None and optimum.status == "found" and optimum.n_params is not None:
            ax.axvline(optimum.n_params.value, color=colour, linewidth=1.2, linestyle=":")
            if math.isfinite(optimum.n_params.lo) and math.isfinite(optimum.n_params.hi):
                ax.axvspan(optimum.n_params.lo, optimum.n_params.hi, color=colour, alpha=0.12, linewidth=0)
    ax.set_xscale("log")
    ax.set_xlabel("N, parameters")
    ax.set_ylabel("loss")
    legend(ax, outside=True, ncols=4, title="budget (FLOPs); dotted: its optimum N, shaded: 95% interval")
    return Plot(
        "IsoFLOP profiles",
        fig,
        "Final loss against model size on each compute budget; each budget's minimum (a parabola in log N) "
        "gives its optimal N, with its 95% interval, and those optima give the power laws above.",
    )
