"""The optimum laws' figures (lr_opt, batch_opt): each (N, D) sweep's loss against the swept
learning rate or batch size with its located optimum and the power law's optimum there, and the
power law of the optima against compute, extrapolated a hundredfold past the largest sweep."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.ticker import FuncFormatter, NullFormatter

from app import runs as runs_module
from app.db.tables import Fit
from app.law_kinds.base import LEVEL
from app.reports.plots import (
    DATA_COLOUR,
    LAW_COLOUR,
    PALETTE,
    Plot,
    band,
    colorbar,
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

MAX_SWEEPS = 12  # sweep panels drawn; beyond it, an even spread of them (the CSV lists every run)
REACH = 100.0  # the law is drawn this far past the largest sweep's compute
FOUND_COLOUR = "#27ae60"


def plots(kind: Any, fit: Fit, restored: Any, runs: list[FitRun]) -> list[Plot]:
    """The power law through the located optima, then each sweep with its optimum."""
    if not restored.optima:
        return []
    return [_law(kind, restored), _sweeps(kind, restored, runs)]


def _swept(kind: Any) -> tuple[str, str]:
    """The swept run column's name in a label, and the other hyperparameter's column."""
    if kind.name == "lr_opt":
        return "learning rate", "batch_tokens"
    return "batch size, tokens", "lr"


def _sweeps(kind: Any, restored: Any, runs: list[FitRun]) -> Plot:
    """One panel per sweep: loss against the swept value, the located optimum with its interval
    (green), and the power law's optimum at that (N, D) with its interval (red, dashed)."""
    swept_label, other = _swept(kind)
    optima = sorted(restored.optima, key=lambda o: o.C)
    shown = optima
    if len(optima) > MAX_SWEEPS:
        shown = [optima[int(i)] for i in np.linspace(0, len(optima) - 1, MAX_SWEEPS).round()]
    ncols = min(len(shown), 3)
    nrows = math.ceil(len(shown) / ncols)
    fig, axes = figure(ncols=ncols, nrows=nrows, width=3.5 * ncols, height=2.9 * nrows + 0.6)
    for ax in axes.flat[len(shown) :]:
        ax.set_visible(False)
    groups = [_members(kind, optimum, runs) for optimum in shown]
    spread = max((_spread(members, other) for members in groups), default=0.0)
    norm = LogNorm(vmin=math.exp(-spread), vmax=math.exp(spread)) if spread > 0 else None
    points = None
    for ax, optimum, members in zip(axes.flat, shown, groups, strict=False):
        x = np.array([getattr(r, kind.column) for r in members], dtype=float)
        loss = np.array([r.loss for r in members], dtype=float)
        relative = _relative(members, other)
        if norm is not None and relative is not None:
            # The other hyperparameter varies within the sweep too: colour by it, relative to the
            # sweep's middle value, so every panel shares one colour scale.
            points = ax.scatter(x, loss, s=18, c=relative, norm=norm, cmap="coolwarm", label="runs")
        else:
            ax.scatter(x, loss, s=18, color=DATA_COLOUR, label="runs")
        located = kind.located(optimum)
        if located is not None and math.isfinite(located.value):
            ax.axvline(located.value, color=FOUND_COLOUR, linewidth=1.6, label="located optimum")
            if math.isfinite(located.lo) and math.isfinite(located.hi):
                ax.axvspan(located.lo, located.hi, color=FOUND_COLOUR, alpha=0.15, linewidth=0)
        law = restored.predict(level=LEVEL, N=optimum.N, D=optimum.D)
        ax.axvline(law.value, color=LAW_COLOUR, linestyle="--", linewidth=1.4, label="power law")
        if math.isfinite(law.lo) and math.isfinite(law.hi):
            ax.axvspan(law.lo, law.hi, color=LAW_COLOUR, alpha=0.08, linewidth=0)
        ax.set_xscale("log")
        if x.size:  # a sweep spans about a decade: four plain ticks read better than log minor labels
            ax.set_xticks(
                np.geomspace(x.min(), x.max(), 4), [label(v, 2) for v in np.geomspace(x.min(), x.max(), 4)]
            )
            ax.xaxis.set_minor_formatter(NullFormatter())
        status = "" if optimum.status == "found" else f" ({optimum.status.replace('_', ' ')}: left out)"
        ax.set_title(f"N={label(optimum.N)}, D={label(optimum.D)}{status}", fontsize=9)
        ax.set_xlabel(swept_label, fontsize=8)
        ax.set_ylabel("loss", fontsize=8)
        ax.tick_params(labelsize=7)
    legend(axes[0, 0], outside=True, ncols=4)
    if points is not None:
        name = "batch size" if other == "batch_tokens" else "learning rate"
        bar = colorbar(fig, points, axes, f"{name} / the sweep's middle {name}")
        bar.set_ticks([math.exp(spread * k) for k in (-1, -0.5, 0, 0.5, 1)])
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: label(v, 2)))
        bar.ax.yaxis.set_minor_formatter(NullFormatter())
    caption = (
        f"Each (N, D) sweep's final losses against the {swept_label}; green: the optimum located in the "
        "sweep with its 95% interval, red dashed: the fitted power law's optimum there with its interval. "
        "Sweeps whose optimum is at the edge of the swept range or not bowl-shaped are left out of the law."
    )
    if len(shown) < len(optima):
        caption += f" {len(shown)} of the {len(optima)} sweeps are drawn, spread over compute."
    return Plot(f"Sweeps of the {swept_label}", fig, caption)


def _members(kind: Any, optimum: Any, runs: list[FitRun]) -> list[FitRun]:
    """The runs of one sweep: its (N, D), with a value of the swept hyperparameter."""
    return [
        r
        for r in runs
        if math.isclose(runs_module.n_for_laws(r), optimum.N, rel_tol=1e-9)
        and math.isclose(r.tokens, optimum.D, rel_tol=1e-9)
        and getattr(r, kind.column) is not None
    ]


def _relative(members: list[FitRun], other: str) -> np.ndarray | None:
    """Each run's other hyperparameter over the sweep's median of it; None when it does not vary."""
    values = np.array(
        [np.nan if getattr(r, other) is None else getattr(r, other) for r in members], dtype=float
    )
    if not values.size or not np.isfinite(values).all() or len(set(values)) < 2:
        return None
    return values / np.median(values)


def _spread(members: list[FitRun], other: str) -> float:
    """The largest |log| of `_relative` in one sweep (0 when the other hyperparameter is fixed)."""
    relative = _relative(members, other)
    return float(np.abs(np.log(relative)).max()) if relative is not None else 0.0


def _law(kind: Any, restored: Any) -> Plot:
    """The located optima against compute with their intervals, and the power law with its band."""
    swept_label, _ = _swept(kind)
    fig, axes = figure(width=8.5, height=5.2)
    ax = axes[0, 0]
    compute = np.array([o.C for o in restored.optima], dtype=float)
    grid = np.geomspace(compute.min() / 3, compute.max() * REACH, 100)
    if tuple(restored.inputs) == ("C",):
        band(ax, grid, restored.predict(level=LEVEL, C=grid), label=f"{restored.form} law")
    else:
        # A law of N and D: drawn along each tokens-per-parameter ratio the sweeps used (C = 6 N D).
        ratios = sorted({round(o.D / o.N, 6) for o in restored.optima})
        if len(ratios) > 4:
            ratios = [float(np.median([o.D / o.N for o in restored.optima]))]
        for i, ratio in enumerate(ratios):
            n_params = np.sqrt(grid / (6.0 * ratio))
            estimate = restored.predict(level=LEVEL, N=n_params, D=ratio * n_params)
            band(
                ax,
                grid,
                estimate,
                colour=PALETTE[i % len(PALETTE)] if len(ratios) > 1 else LAW_COLOUR,
                label=f"{restored.form} law at D/N = {label(ratio)}",
            )
    found = [o for o in restored.optima if o.status == "found" and kind.located(o) is not None]
    if found:
        estimates = [kind.located(o) for o in found]
        error_bars(
            ax,
            [o.C for o in found],
            [e.value for e in estimates],
            [e.lo for e in estimates],
            [e.hi for e in estimates],
            color=DATA_COLOUR,
            label="located optimum (95% interval)",
            zorder=3,
        )
    fitted_range(ax, compute.min(), compute.max())
    extrapolation(ax, compute.max(), grid[-1], text="extrapolation: beyond the largest sweep")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_xlabel("C = 6ND, training FLOPs")
    ax.set_ylabel(f"optimal {swept_label}")
    legend(ax, outside=True, ncols=2)
    params = ", ".join(f"{name} = {interval_label(_param(restored, name))}" for name in restored.params)
    return Plot(
        f"Power law of the optimal {swept_label}",
        fig,
        f"{kind.name} ({restored.form}): {params}. The {len(found)} located optima with their 95% intervals "
        f"and the law with its 95% bootstrap band (sweeps resampled); {len(restored.optima) - len(found)} "
        "sweep(s) without an interior optimum are left out.",
    )


def _param(restored: Any, name: str) -> dict[str, float | None]:
    intervals = restored.ci(LEVEL) if restored.draws.shape[0] else {}
    lo, hi = intervals.get(name, (None, None))
    return {"value": restored.params[name], "lo": lo, "hi": hi}
