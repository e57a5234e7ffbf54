"""`hyperlaw report`: a study's report (its latest fit of every law, and the prediction at a target
N, D, with --batch the LR at that batch size) or one fit's, written as HTML, PDF, JSON or CSV, read
from the database directly.

The same content as GET /v1/studies/{id}/report and GET /v1/fits/{id}/report (app/reports/).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from app.cli.fit import fail, reading_database
from app.cli.options import BatchOption, DatabaseUrlOption, OptimizerOption, StudyArgument, unknown_optimizer

FORMATS = ("html", "pdf", "json", "csv")


def write_report(
    database_url: str | None,
    study: str,
    fit_id: int | None,
    n_params: float | None,
    tokens: float | None,
    format: str,
    output: Path,
    batch: float | None = None,
    optimizer: str = "adam",
) -> None:
    """Read the report from the database, render it and write it to `output`; fail() on any problem."""
    from app.reports import content, render

    with reading_database(database_url) as database:
        if fit_id is None:
            report = content.study_report(
                database, study, n_params=n_params, tokens=tokens, batch=batch, optimizer=optimizer
            )
        else:
            report = content.fit_report(database, fit_id)
            if study not in (str(report.study.id), report.study.name):
                fail(
                    f"fit {fit_id} belongs to study {report.study.name!r} (id {report.study.id}), not {study!r}"
                )
    if format == "json":
        body: str | bytes = json.dumps(render.to_json(report), indent=1)
    elif format == "csv":
        body = render.to_csv(report)
    elif format == "pdf":
        body = render.to_pdf(report)
    else:
        body = render.to_html(report)
    try:
        if isinstance(body, bytes):
            output.write_bytes(body)
        else:
            output.write_text(body, encoding="utf-8")
    except OSError as error:
        fail(f"cannot write {output}: {error.strerror or error}")


def register(cli: typer.Typer) -> None:
    """Add the report command to the CLI."""

    @cli.command("report")
    def report_command(
        study: StudyArgument,
        output: Annotated[Path, typer.Option("-o", "--output", help="File to write the report to.")],
        format: Annotated[str, typer.Option("--format", help="html, pdf, json or csv.")] = "html",
        fit_id: Annotated[
            int | None, typer.Option("--fit", help="Report this fit of the study instead of its latest fits.")
        ] = None,
        n_params: Annotated[
            float | None, typer.Option("--n-params", help="Target parameters N for the prediction.")
        ] = None,
        tokens: Annotated[float | None, typer.Option("--tokens", help="Target training tokens D.")] = None,
        batch: BatchOption = None,
        optimizer: OptimizerOption = "adam",
        database_url: DatabaseUrlOption = None,
    ) -> None:
        """Write a report of a study's fitted laws (or of one fit) with its plots, intervals and warnings."""
        if format not in FORMATS:
            fail(f"--format {format!r} is unknown: use one of {', '.join(FORMATS)}")
        for name, value in (("--n-params", n_params), ("--tokens", tokens), ("--batch", batch)):
            if value is not None and not (math.isfinite(value) and value > 0):
                fail(f"{name} must be a positive number, got {value:g}")
        if (problem := unknown_optimizer(optimizer)) is not None:
            fail(problem)
        if (n_params is None) != (tokens is None):
            fail("a prediction needs both --n-params and --tokens")
        if batch is not None and n_params is None:
            fail("--batch is for a prediction: give --n-params and --tokens too")
        if fit_id is not None and n_params is not None:
            fail("--n-params and --tokens predict from a study's latest fits: leave out --fit")
        write_report(database_url, study, fit_id, n_params, tokens, format, output, batch, optimizer)
        typer.echo(f"wrote {output} ({output.stat().st_size} bytes)")
