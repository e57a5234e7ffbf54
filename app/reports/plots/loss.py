"""The loss law's figures: observed and fitted loss against N, D and compute (with the
compute-optimal frontier), residuals against N, D and the fitted loss, and each parameter's bootstrap
distribution. Curves extend ten times past the largest fitted run, shaded as extrapolation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

import fitting
from app import runs as runs_module
from app.db.tables import Fit
from app.law_kinds.base import LEVEL
from app.law_kinds.loss import law_inputs
from app.reports.plots import (
    DATA_COLOUR,
    LAW_COLOUR,
    PALETTE,
    Plot,
    band,
    colorbar,
    colour_by,
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

# How far past the largest fitted run the curves go (and the shaded extrapolation reaches).
REACH = 10.0
# Compute reaches further: a compute-optimal prediction is usually asked 10-1000x past the proxies.
COMPUTE_REACH = 100.0
MAX_CURVES = 6  # distinct values of the other input drawn as separate curves


def plots(fit: Fit, restored: Any, runs: list[FitRun]) -> list[Plot]:
    """The loss law's section: the law against its inputs, against compute, residuals, bootstrap."""
    if not runs:
        return []
    n_params = np.array([runs_module.n_for_laws(r) for r in runs], dtype=float)
    tokens = np.array([r.tokens for r in runs], dtype=float)
    loss = np.array([r.loss for r in runs], dtype=float)
    out = []
    if restored.variable:
        out.append(_against_variable(restored, n_params, tokens, loss))
    else:
        out.append(_against(restored, "N", n_params, tokens, loss))
        out.append(_against(restored, "D", n_params, tokens, loss))
        out.append(_against_compute(restored, n_params, tokens, loss))
    out.append(_residuals(restored, n_params, tokens, loss))
    if restored.draws.shape[0]:
        out.append(_bootstrap(restored))
    return out


def _distinct(values: np.ndarray) -> list[float]:
    """The distinct values, those within 1% of the previous one counted as the same."""
    distinct: list[float] = []
    for v in np.sort(values):
        if not distinct or v > distinct[-1] * 1.01:
            distinct.append(float(v))
    return distinct


def _against(fit: Any, axis: str, n_params: np.ndarray, tokens: np.ndarray, loss: np.ndarray) -> Plot:
    """Loss against N (the law at each D) or against D (the law at each N)."""
    x, other = (n_params, tokens) if axis == "N" else (tokens, n_params)
    other_name = "D" if axis == "N" else "N"
    fig, axes = figure(width=8.5, height=5.2)
    ax = axes[0, 0]
    low, high = fit.input_ranges.get(axis, (x.min(), x.max()))
    grid = np.geomspace(low / 2, high * REACH, 120)
    distinct = _distinct(other)
    # A grid design: one curve per value, its runs in its colour. Otherwise three curves (smallest,
    # median, largest) and the runs coloured by their value.
    grouped = len(distinct) <= MAX_CURVES
    curves = distinct if grouped else [distinct[0], float(np.median(other)), distinct[-1]]
    for i, value in enumerate(curves):
        colour = PALETTE[i % len(PALETTE)]
        estimate = fit.predict(level=LEVEL, **{axis: grid, other_name: np.full_like(grid, value)})
        band(ax, grid, estimate, colour=colour, label=f"law at {other_name} = {label(value)}")
        if grouped:
            near = np.abs(np.log(other / value)) <= np.log(1.01)
            ax.scatter(x[near], loss[near], color=colour, edgecolor="black", linewidth=0.5, s=30, zorder=3)
    if not grouped:
        norm, cmap = colour_by(other)
        points = ax.scatter(
            x, loss, c=other, norm=norm, cmap=cmap, edgecolor="black", linewidth=0.5, s=30, zorder=3
        )
        colorbar(fig, points, ax, f"{other_name} of the run")
    ax.scatter([], [], color="white", edgecolor="black", s=30, label="observed runs")
    fitted_range(ax, low, high)
    extrapolation(ax, high, grid[-1], text=f"extrapolation: beyond the largest fitted {axis}")
    ax.set_xscale("log")
    ax.set_xlabel("N, parameters" if axis == "N" else "D, training tokens")
    ax.set_ylabel("loss")
    ax.set_xlim(grid[0], grid[-1])
    legend(ax, outside=True)
    name = "parameters N" if axis == "N" else "training tokens D"
    return Plot(
        f"Loss against {name}",
        fig,
        f"Observed final losses (dots) and the fitted {fit.law} law at each {other_name} (lines) with its 95% "
        f"bootstrap band; dotted lines mark the fitted range of {axis}, the shaded region is extrapolation.",
    )


def _against_variable(fit: Any, n_params: np.ndarray, tokens: np.ndarray, loss: np.ndarray) -> Plot:
    """A law of one input ("power"): loss against it, with its band and the extrapolation."""
    variable = fit.variable
    x = law_inputs(fit, n_params, tokens)[variable]
    low, high = fit.input_ranges.get(variable, (x.min(), x.max()))
    grid = np.geomspace(low / 2, high * COMPUTE_REACH, 150)
    fig, axes = figure(width=8.5, height=5.2)
    ax = axes[0, 0]
    band(ax, grid, fit.predict(level=LEVEL, **{variable: grid}), label=f"fitted {fit.law} law")
    norm, cmap = colour_by(n_params)
    points = ax.scatter(x, loss, c=n_params, norm=norm, cmap=cmap, edgecolor="black", linewidth=0.5, s=30)
    colorbar(fig, points, ax, "N of the run")
    fitted_range(ax, low, high)
    extrapolation(ax, high, grid[-1], text=f"extrapolation: beyond the largest fitted {variable}")
    ax.set_xscale("log")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_xlabel({"C": "C = 6ND, training FLOPs", "N": "N, parameters", "D": "D, training tokens"}[variable])
    ax.set_ylabel("loss")
    legend(ax, outside=True)
    return Plot(
        f"Loss against {variable}",
        fig,
        f"Observed final losses coloured by N and the fitted power law of {variable} with its 95% band; "
        "the shaded region is extrapolation.",
    )


def _against_compute(fit: Any, n_params: np.ndarray, tokens: np.ndarray, loss: np.ndarray) -> Plot:
    """Loss against C = 6ND with the compute-optimal frontier L(C) and its band."""
    compute = fitting.training_compute(n_params, tokens)
    fig, axes = figure(width=8.5, height=5.2)
    ax = axes[0, 0]
    grid = np.geomspace(compute.min() / 3, compute.max() * COMPUTE_REACH, 80)
    caption = (
        "Observed final losses against training compute, coloured by N; the line is the fitted law at the "
        "compute-optimal N and D for each compute (the frontier) with its 95% band."
    )
    try:
        frontier = fitting.optimal_allocation(fit, grid, level=LEVEL)
        band(ax, grid, frontier.loss, label="compute-optimal frontier L(C)")
    except ValueError as error:  # a law without an interior optimum here: the runs alone
        caption += f" No frontier is drawn: {error}."
    norm, cmap = colour_by(n_params)
    points = ax.scatter(
        compute, loss, c=n_params, norm=norm, cmap=cmap, edgecolor="black", linewidth=0.5, s=30, zorder=3
    )
    colorbar(fig, points, ax, "N of the run")
    fitted_range(ax, compute.min(), compute.max())
    extrapolation(ax, compute.max(), grid[-1], text="extrapolation: beyond the largest fitted run")
    ax.set_xscale("log")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_xlabel("C = 6ND, training FLOPs")
    ax.set_ylabel("loss")
    legend(ax, outside=True)
    return Plot("Loss against compute", fig, caption)


def _residuals(fit: Any, n_params: np.ndarray, tokens: np.ndarray, loss: np.ndarray) -> Plot:
    """Log residuals (%) against each input and the fitted loss, each with the fitted value's interval."""
    inputs = law_inputs(fit, n_params, tokens)
    fitted = fit.predict(level=LEVEL, **inputs)
    residual = 100 * np.log(loss / fitted.value)
    # The residual's interval from the fitted value's: log(L / hi) .. log(L / lo).
    lo, hi = 100 * np.log(loss / fitted.hi), 100 * np.log(loss / fitted.lo)
    panels = [("N", n_params, "N, parameters"), ("D", tokens, "D, training tokens")]
    if fit.variable:
        panels = [(fit.variable, inputs[fit.variable], f"{fit.variable}")]
    panels.append(("fitted", fitted.value, "fitted loss"))
    fig, axes = figure(ncols=len(panels), width=3.6 * len(panels), height=3.6, sharey=True)
    held = _held_out(fit, n_params, tokens, inputs)
    for ax, (name, x, xlabel) in zip(axes[0], panels, strict=True):
        error_bars(ax, x, residual, lo, hi, color=DATA_COLOUR, ecolor="#95a5a6", label="run (95% interval)")
        if held is not None and held.any():
            ax.scatter(
                np.asarray(x)[held],
                residual[held],
                s=90,
                facecolor="none",
                edgecolor=LAW_COLOUR,
                linewidth=1.4,
                label="held out in the extrapolation check",
                zorder=4,
            )
        ax.axhline(0, color="black", linewidth=0.8)
        if name != "fitted":
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
    axes[0, 0].set_ylabel("residual, % (log observed - log fitted)")
    legend(axes[0, 0], outside=True, ncols=2)
    caption = "Residuals of every run in percent of the loss, with the 95% interval of its fitted value."
    if fit.holdout is not None:
        h = fit.holdout
        if h.directions:
            names = {"N": "largest models", "D": "largest token counts"}
            parts = [
                f"without its {names.get(axis, 'largest ' + axis)} ({d.n_heldout} runs) it missed them by "
                f"{100 * d.relative_error:.2f}% on average (at most {100 * d.max_relative_error:.2f}%)"
                for axis, d in h.directions.items()
            ]
            caption += " Refitted " + "; ".join(parts) + " (held-out runs circled)."
        else:
            caption += (
                f" Refitted without its {h.n_heldout} largest run(s) (circled), the law missed them by "
                f"{100 * h.relative_error:.2f}% on average (at most {100 * h.max_relative_error:.2f}%; "
                f"{100 * h.in_sample_relative_error:.2f}% on the runs it saw)."
            )
    return Plot("Residuals", fig, caption)


def _held_out(fit: Any, n_params: np.ndarray, tokens: np.ndarray, inputs: dict) -> np.ndarray | None:
    """Which runs the extrapolation check held out in at least one direction: those whose input is at
    or above that direction's threshold (the largest model sizes, the largest token counts); a check
    stored before directions were recorded falls back to its scale threshold (N·D, or x)."""
    if fit.holdout is None:
        return None
    values = {"N": n_params, "D": tokens, **inputs}
    directions = fit.holdout.directions
    if not directions:
        scale = inputs[fit.variable] if fit.variable else n_params * tokens
        return np.asarray(scale) >= fit.holdout.scale_threshold * (1 - 1e-12)
    held = np.zeros(np.shape(n_params), dtype=bool)
    for axis, direction in directions.items():
        if axis in values:
            held |= np.asarray(values[axis]) >= direction.threshold * (1 - 1e-12)
    return held


def _bootstrap(fit: Any) -> Plot:
    """Each parameter's bootstrap distribution with its point estimate and 95% interval."""
    names = list(fit.param_names)
    intervals = fit.ci(LEVEL)
    ncols = min(len(names), 3)
    nrows = -(-len(names) // ncols)
    fig, axes = figure(ncols=ncols, nrows=nrows, width=3.4 * ncols, height=2.6 * nrows)
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    for ax, (i, name) in zip(axes.flat, enumerate(names), strict=False):
        draws = fit.draws[:, i]
        point, (lo, hi) = fit.params[name], intervals[name]
        # Scale parameters (A, B, N_c) spread over decades: their histogram is in log10.
        logged = bool(np.all(draws > 0) and point > 0 and draws.max() / draws.min() > 100)
        shown = np.log10(draws) if logged else draws
        convert = np.log10 if logged else (lambda v: v)
        ax.hist(shown, bins=40, histtype="stepfilled", color="#7fa7c9", edgecolor="#5b86ad", linewidth=0.6)
        ax.axvspan(convert(lo), convert(hi), color=LAW_COLOUR, alpha=0.12, label="95% interval")
        ax.axvline(convert(point), color=LAW_COLOUR, linewidth=1.6, label="point estimate")
        ax.set_title(f"{name} = {interval_label({'value': point, 'lo': lo, 'hi': hi})}", fontsize=9)
        ax.set_xlabel(f"log10 {name}" if logged else name)
    legend(axes.flat[0], outside=True, ncols=2)
    return Plot(
        "Bootstrap distributions",
        fig,
        f"{fit.draws.shape[0]} converged bootstrap replicates (runs resampled) of each parameter, "
        f"{fit.n_failed_replicates} failed; the shaded span is the 95% percentile interval.",
    )
