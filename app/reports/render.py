"""A report (app/reports/content.py) as JSON, CSV, one self-contained HTML file, or PDF.

HTML embeds every plot as a base64 PNG and inlines its stylesheet, so the file opens offline. The
PDF (matplotlib's PdfPages) has the same content: text pages with the verdicts, parameters,
prediction and warnings, then each figure on a page. matplotlib is not thread-safe, so figures are
drawn under one lock; `PlotCache` keeps the dashboard's PNGs of finished fits (they never change).
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import math
import textwrap
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from app import holdouts
from app.law_kinds.base import json_safe
from app.predictions import prediction_rows
from app.reports.content import Report, Section

FORMATS = ("html", "pdf", "json", "csv")
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
}
DRAWING = threading.Lock()
# Stored result keys a report's JSON leaves out: the raw bootstrap draws (summarised instead) and
# what it already lists under its own names.
LEFT_OUT = ("draws", "theta", "params", "ci95", "warnings", "kind", "holdout", "candidates", "context")


@dataclass(frozen=True)
class Image:
    """A drawn figure: its title, caption and PNG bytes."""

    title: str
    caption: str
    png: bytes

    @property
    def src(self) -> str:
        """A data URI: the image inside the HTML file itself."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def png(figure: Any, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (the Agg canvas)."""
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=dpi)
    return out.getvalue()


def draw(section: Section) -> list[Image]:
    """The section's figures drawn to PNG, one report at a time."""
    with DRAWING:
        return [Image(p.title, p.caption, png(p.figure)) for p in section.plots()]


class PlotCache:
    """PNGs of finished fits by fit id, least recently used dropped beyond `size` fits (the dashboard's
    plots and the API's HTML reports). Figures that failed to draw are drawn again next time, so each
    report says why (Section.plot_error)."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._images: OrderedDict[int, list[Image]] = OrderedDict()
        self._lock = threading.Lock()

    def images(self, section: Section) -> list[Image]:
        fit_id = section.fit.id
        with self._lock:
            if fit_id in self._images:
                self._images.move_to_end(fit_id)
                return self._images[fit_id]
        images = draw(section)
        if section.fit.status == "done" and section.plot_error is None:
            with self._lock:
                self._images[fit_id] = images
                while len(self._images) > self.size:
                    self._images.popitem(last=False)
        return images

    def clear(self) -> None:
        with self._lock:
            self._images.clear()


# ------------------------------------------------------------------------------ numbers


def number(value: Any, digits: int = 4) -> str:
    """A number for a reader: `digits` significant digits, '-' when missing or not finite."""
    if value is None:
        return "-"
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if isinstance(value, bool | str | int):
        return str(value)
    value = float(value)
    if not math.isfinite(value):
        return "-"
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def bounds(lo: Any, hi: Any, digits: int = 4) -> str:
    """'[lo, hi]', or '-' without an interval."""
    if lo is None or hi is None:
        return "-"
    return f"[{number(lo, digits)}, {number(hi, digits)}]"


# ------------------------------------------------------------------------------ JSON and CSV


def _without_draws(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_draws(v) for k, v in value.items() if k != "draws"}
    if isinstance(value, list):
        return [_without_draws(v) for v in value]
    return value


def section_json(section: Section) -> dict[str, Any]:
    """One fit, machine-readable: parameters with 95% intervals, bootstrap summary, held-out errors,
    data hash, run ids, warnings, the verdict, and every run's fitted value and residual."""
    fit, result = section.fit, section.fit.result or {}
    context = dict(result.get("context") or {})
    return {
        "id": fit.id,
        "study_id": fit.study_id,
        "law": fit.law,
        "kind": section.kind.name if section.kind is not None else None,
        "status": fit.status,
        "error": fit.error,
        "verdict": {
            "level": section.verdict.level,
            "usable": section.verdict.usable,
            "reasons": section.verdict.reasons,
        },
        "parameters": {
            p["name"]: {"value": p["value"], "lo": p["lo"], "hi": p["hi"]} for p in section.parameters()
        },
        "objective": fit.objective,
        "bootstrap": section.bootstrap(),
        "holdout": result.get("holdout"),
        "candidates": result.get("candidates"),
        "data_hash": fit.data_hash,
        "run_ids": list(fit.run_ids or []),
        "n_points": fit.n_points,
        "options": dict(fit.run_filter or {}),
        "warnings": [str(w) for w in fit.warnings or []],
        "result": _without_draws({k: v for k, v in result.items() if k not in LEFT_OUT}),
        "context": _without_draws(context),
        "created_at": fit.created_at.isoformat() if fit.created_at else None,
        "finished_at": fit.finished_at.isoformat() if fit.finished_at else None,
        "runs": section.rows(),
    }


def to_json(report: Report) -> dict[str, Any]:
    """The whole report as JSON-ready data (NaN and infinities as null)."""
    study = report.study
    return json_safe(
        {
            "hyperlaw_version": report.version,
            "generated_at": report.generated_at.isoformat(),
            "title": report.title,
            "study": {
                "id": study.id,
                "name": study.name,
                "kind": study.kind,
                "data": study.data,
                "parametrization": study.parametrization,
                "base_d_model": study.base_d_model,
            },
            "target": report.target,
            "prediction": report.prediction,
            "prediction_error": report.prediction_error,
            "fits": [section_json(s) for s in report.sections],
        }
    )


def to_csv(report: Report) -> str:
    """The runs of every fit, one row each, with the fit's id and law and the kind's fitted-value
    and residual columns (the union over the fits; empty where a kind has no such column)."""
    rows = [{"fit_id": s.fit.id, "law": s.fit.law, **row} for s in report.sections for row in s.rows()]
    columns: dict[str, None] = {"fit_id": None, "law": None}
    for row in rows:
        columns.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def _cell(value: Any) -> Any:
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return value


# ------------------------------------------------------------------------------ HTML


@functools.cache
def templates():
    """The Jinja2 environment of app/reports/templates (HTML autoescaped)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("app.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["num"] = number
    environment.filters["bounds"] = bounds
    environment.globals["prediction_rows"] = prediction_rows
    environment.globals["describe_holdout"] = holdouts.describe
    environment.globals["describe_candidates"] = holdouts.describe_candidates
    return environment


@functools.cache
def stylesheet() -> str:
    """The stylesheet the dashboard serves and the HTML report inlines."""
    return (resources.files("app.reports") / "static" / "hyperlaw.css").read_text(encoding="utf-8")


def to_html(report: Report, images: Iterable[list[Image]] | None = None) -> str:
    """One self-contained HTML file: inline CSS, plots as base64 PNGs, no external reference."""
    drawn = list(images) if images is not None else [draw(s) for s in report.sections]
    return (
        templates()
        .get_template("report.html")
        .render(report=report, sections=list(zip(report.sections, drawn, strict=True)), css=stylesheet())
    )


# ------------------------------------------------------------------------------ PDF

PAGE = (8.27, 11.69)  # A4 portrait, inches
MARGIN = 0.6


class TextPages:
    """Text laid out top-down on A4 pages of a PdfPages document, a new page when one is full."""

    def __init__(self, pdf: Any) -> None:
        self.pdf, self.figure, self.y = pdf, None, 0.0

    def _page(self) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.close()
        self.figure = Figure(figsize=PAGE, facecolor="white")
        FigureCanvasAgg(self.figure)
        self.y = PAGE[1] - MARGIN

    def line(
        self,
        text: str,
        *,
        size: float = 9,
        weight: str = "normal",
        colour: str = "black",
        mono: bool = False,
        wrap: bool = True,
    ) -> None:
        width = int((PAGE[0] - 2 * MARGIN) * 72 / (size * (0.6 if mono else 0.52)))
        for part in textwrap.wrap(text, width) if wrap and text else [text]:
            height = size * 1.45 / 72
            if self.figure is None or self.y - height < MARGIN:
                self._page()
            self.y -= height
            self.figure.text(
                MARGIN / PAGE[0],
                self.y / PAGE[1],
                part,
                fontsize=size,
                fontweight=weight,
                color=colour,
                family="monospace" if mono else "sans-serif",
            )

    def gap(self, inches: float = 0.12) -> None:
        self.y -= inches

    def close(self) -> None:
        if self.figure is not None:
            self.pdf.savefig(self.figure)
            self.figure = None


def to_pdf(report: Report) -> bytes:
    """The report as PDF: the same verdicts, numbers, warnings and figures as the HTML."""
    with DRAWING:
        from matplotlib.backends.backend_pdf import PdfPages

        out = io.BytesIO()
        with PdfPages(out, metadata={"Title": report.title, "Creator": f"hyperlaw {report.version}"}) as pdf:
            text = TextPages(pdf)
            _pdf_front(text, report)
            for section in report.sections:
                plots = section.plots()
                _pdf_section(text, section, plots)
                text.close()
                for number_, plot in enumerate(plots, start=1):
                    plot.figure.suptitle(f"{section.title} — figure {number_}: {plot.title}", fontsize=11)
                    pdf.savefig(plot.figure)
            text.close()
        return out.getvalue()


def _pdf_front(text: TextPages, report: Report) -> None:
    text.line(report.title, size=16, weight="bold")
    text.line(
        f"hyperlaw {report.version}, generated {report.generated_at:%Y-%m-%d %H:%M} UTC; study {report.study.name} "
        f"(id {report.study.id}); parametrization {report.parametrization}",
        size=8,
        colour="#555555",
    )
    text.gap()
    for section in report.unusable:
        text.line(
            f"DO NOT USE {section.title}: " + "; ".join(section.verdict.reasons),
            size=10,
            weight="bold",
            colour="#a61b1b",
        )
    if not report.sections:
        text.line("This study has no finished fit yet.", size=10)
    if report.target is not None:
        text.gap()
        target = report.target
        text.line(
            f"Prediction for N = {number(target['n_params'])} parameters, D = {number(target['tokens'])} tokens",
            size=12,
            weight="bold",
        )
        if report.prediction_error:
            text.line(report.prediction_error, colour="#a61b1b")
        if report.prediction is not None:
            text.line(f"{'quantity':<36}{'estimate':>14}  95% interval", mono=True, weight="bold", wrap=False)
            for label, found in prediction_rows(report.prediction):
                value = number(found["value"]) if found else "-"
                interval = bounds(found.get("lo"), found.get("hi")) if found else "-"
                text.line(f"{label:<36}{value:>14}  {interval}", mono=True, wrap=False)
            for warning in report.prediction.get("warnings", []):
                text.line(f"warning: {warning}", size=8, colour="#8a5a00")
    text.gap()


def _pdf_section(text: TextPages, section: Section, plots: list[Any]) -> None:
    fit = section.fit
    text.gap(0.2)
    text.line(section.title, size=13, weight="bold")
    if section.verdict.level == "unusable":
        text.line(
            "This law is not usable: " + "; ".join(section.verdict.reasons),
            size=10,
            weight="bold",
            colour="#a61b1b",
        )
    elif section.verdict.level == "caution":
        text.line(
            "Use with care: " + "; ".join(section.verdict.reasons), size=9, weight="bold", colour="#8a5a00"
        )
    if section.note:
        text.line(f"Note: {section.note}", size=9, colour="#1f5f99")
    bootstrap = section.bootstrap()
    text.line(
        f"status {fit.status}; {fit.n_points} runs; bootstrap {bootstrap['requested']} replicates "
        f"({bootstrap['failed'] or 0} failed), seed {fit.seed}; data hash {fit.data_hash}",
        size=8,
        colour="#555555",
    )
    parameters = section.parameters()
    if parameters:
        text.gap(0.05)
        text.line(f"{'parameter':<14}{'estimate':>14}  95% interval", mono=True, weight="bold", wrap=False)
        for p in parameters:
            text.line(
                f"{p['name']:<14}{number(p['value']):>14}  {bounds(p['lo'], p['hi'])}", mono=True, wrap=False
            )
    for line in holdouts.describe((fit.result or {}).get("holdout")):
        text.line(f"held-out extrapolation: {line}")
    for warning in fit.warnings or []:
        text.line(f"warning: {warning}", size=8, colour="#8a5a00")
    if section.plot_error:
        text.line(
            f"The plots could not be drawn ({section.plot_error}); the numbers above do not depend on them."
        )
    if plots:
        text.gap(0.05)
        text.line("Figures (following pages):", weight="bold")
        for number_, plot in enumerate(plots, start=1):
            text.line(f"{number_}. {plot.title}: {plot.caption}", size=8)
    text.line(f"runs: {', '.join(str(i) for i in fit.run_ids or [])}", size=7, colour="#555555")
