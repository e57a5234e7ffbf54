"""Reports of fitted laws and the dashboard's pieces: what a report says, and its renderings.

    content.py     a fit's or a study's report read from the database: sections, verdicts, prediction
    render.py      the report as JSON, CSV, one self-contained HTML file, or PDF; plots as PNG
    plots/         the figures, one module per law kind (each kind's `plots` imports its module)
    templates/     Jinja2 templates of the report and of the dashboard at /
    static/        the dashboard's stylesheet and script (the report inlines the stylesheet)

Nothing here imports matplotlib until a figure is drawn, so serving predictions never loads it.
"""

from __future__ import annotations

from importlib import metadata


def version() -> str:
    """The installed hyperlaw version (reports and `hyperlaw --version` print it)."""
    try:
        return metadata.version("hyperlaw")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"
