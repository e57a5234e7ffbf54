"""The figures of report sections: one module per law kind (loss, optimum, critical_batch,
frontier), and the drawing helpers they share here.

Drawn with matplotlib's object API on the Agg canvas: no pyplot, no display, no figure state shared
between threads. Only a law kind's `plots` imports these modules, so /v1/predict never loads
matplotlib. Every fitted curve is drawn with its 95% band; the region beyond the largest fitted run
is shaded and labelled "extrapolation".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from app.law_kinds.base import Plot

__all__ = [
    "Plot",
    "band",
    "colorbar",
    "colour_by",
    "error_bars",
    "extrapolation",
    "figure",
    "finite",
    "fitted_range",
    "interval_label",
    "label",
    "legend",
]

LAW_COLOUR = "#c0392b"
DATA_COLOUR = "#2c3e50"
EXTRAPOLATION_COLOUR = "#f6e3b4"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def figure(*, ncols: int = 1, nrows: int = 1, width: float = 7.5, height: float = 4.4, **kwargs: Any):
    """A Figure on the Agg canvas and its axes as a 2-D array, white, with fixed margins in inches.

    Margins are set by hand rather than by a layout engine: constrained layout doubles the time a
    figure takes to draw, and a report of many figures must render in a few seconds.
    """
    fig = Figure(figsize=(width, height), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    fig.subplots_adjust(
        left=1.0 / width,
        right=1 - 0.3 / width,
        top=1 - 0.4 / height,
        bottom=0.65 / height,
        wspace=0.3,
        hspace=0.5,
    )
    for ax in axes.flat:
        ax.grid(True, which="major", color="#e5e5e5", linewidth=0.6)
        ax.set_axisbelow(True)
    return fig, axes


def finite(values: Any) -> np.ndarray:
    """`values` as a float array with None as NaN."""
    return np.array([np.nan if v is None else v for v in np.ravel(values)], dtype=float)


def band(ax, x: Any, estimate: Any, *, colour: str = LAW_COLOUR, label: str, linestyle: str = "-") -> None:
    """A fitted curve (the estimate's value) and its 95% interval as a shaded band where it exists."""
    x = np.asarray(x, dtype=float)
    value, lo, hi = finite(estimate.value), finite(estimate.lo), finite(estimate.hi)
    ax.plot(x, value, color=colour, linewidth=1.8, linestyle=linestyle, label=label)
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        ax.fill_between(x, lo, hi, where=ok, color=colour, alpha=0.18, linewidth=0, label="95% interval")


def error_bars(ax, x: Any, values: Any, lo: Any, hi: Any, *, horizontal: bool = False, **style: Any) -> None:
    """Points with their 95% intervals as error bars (a point without an interval gets no bar)."""
    x, values, lo, hi = (finite(a) for a in (x, values, lo, hi))
    below = np.where(np.isfinite(lo), values - lo, 0.0)
    above = np.where(np.isfinite(hi), hi - values, 0.0)
    spread = np.vstack([np.clip(below, 0, None), np.clip(above, 0, None)])
    style = {"fmt": "o", "capsize": 3, "markersize": 5, "elinewidth": 1.1, **style}
    if horizontal:
        ax.errorbar(values, x, xerr=spread, **style)
    else:
        ax.errorbar(x, values, yerr=spread, **style)


def extrapolation(ax, start: float, end: float, *, text: str = "extrapolation") -> None:
    """Shade x from `start` to `end` (beyond the fitted range) and label it at the top of the axes."""
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        return
    ax.axvspan(start, end, color=EXTRAPOLATION_COLOUR, alpha=0.55, linewidth=0, zorder=0, label=text)
    ax.text(
        start,
        0.02,
        f" {text}",
        transform=ax.get_xaxis_transform(),
        ha="left",
        va="bottom",
        fontsize=8,
        color="#8a6d1d",
        clip_on=True,
    )


def fitted_range(ax, low: float, high: float) -> None:
    """Dotted lines at the edges of the fitted range (the smallest and largest run)."""
    for i, edge in enumerate((low, high)):
        if math.isfinite(edge):
            ax.axvline(
                edge, color="#7f7f7f", linestyle=":", linewidth=1, label="fitted range" if i == 0 else None
            )


def colorbar(fig, mappable: Any, ax: Any, label: str) -> Any:
    """A colorbar beside `ax` (an axes or an array of them), with the right margin grown for its label."""
    fig.subplots_adjust(right=1 - 1.5 / fig.get_figwidth())
    return fig.colorbar(mappable, ax=ax, label=label, fraction=0.05, pad=0.02)


def colour_by(values: Sequence[float]) -> tuple[LogNorm, str]:
    """A log colour scale over `values` (e.g. runs coloured by N) and the colour map's name."""
    values = finite(values)
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    if high <= low:
        high = low * 1.01
    return LogNorm(vmin=low, vmax=high), "viridis"


def label(value: Any, digits: int = 3) -> str:
    """A number for a legend or title: 3 significant digits, '-' when missing."""
    if value is None or not math.isfinite(float(value)):
        return "-"
    return f"{float(value):.{digits}g}"


def interval_label(estimate: Any, digits: int = 3) -> str:
    """'value [lo, hi]' of an Estimate (or a mapping with value, lo, hi)."""
    get = estimate.get if isinstance(estimate, dict) else lambda k: getattr(estimate, k)
    lo, hi = get("lo"), get("hi")
    bounds = f" [{label(lo, digits)}, {label(hi, digits)}]" if lo is not None and hi is not None else ""
    return f"{label(get('value'), digits)}{bounds}"


def legend(ax, *, outside: bool = False, ncols: int = 3, **kwargs: Any) -> None:
    """A legend without repeated labels (bands and spans repeat theirs across curves). `outside`: one
    legend for the figure, below its axes, with the bottom margin grown to hold it (call it before
    adding colorbars, which take their room from the axes)."""
    entries: dict[str, Any] = {}
    for source in ax.figure.axes if outside else [ax]:
        for handle, text in zip(*source.get_legend_handles_labels(), strict=True):
            if text and not text.startswith("_"):
                entries.setdefault(text, handle)
    if not entries:
        return
    if not outside:
        ax.legend(entries.values(), entries.keys(), fontsize=8, framealpha=0.85, **kwargs)
        return
    fig = ax.figure
    height = fig.get_figheight()
    rows = math.ceil(len(entries) / ncols) + (1 if kwargs.get("title") else 0)
    fig.legend(entries.values(), entries.keys(), loc="lower center", ncols=ncols, fontsize=8, **kwargs)
    fig.subplots_adjust(bottom=(0.7 + 0.2 * rows) / height)
