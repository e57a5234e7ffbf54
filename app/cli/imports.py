"""`hyperlaw import STUDY FILE.csv`: add runs trained elsewhere (a CSV of N, D or C, loss, optional LR,
batch size and run of each checkpoint) to a study, as POST /v1/studies/{id}/import does."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.options import DatabaseUrlOption, JsonOption, StudyArgument, TokenOption, UrlOption
from app.cli.service import id_span, open_service, print_json, read_bytes


def import_command(
    study: StudyArgument,
    file: Annotated[
        Path, typer.Argument(help="CSV, one row per run: N, D (or C) and loss, optionally LR and batch size.")
    ],
    n_col: Annotated[str, typer.Option(help="Column of parameter counts N.")] = "N",
    d_col: Annotated[str, typer.Option(help="Column of training tokens D.")] = "D",
    c_col: Annotated[
        str | None, typer.Option(help="Column of training FLOPs C (instead of D = C/6N).")
    ] = None,
    loss_col: Annotated[str, typer.Option(help="Column of final losses.")] = "loss",
    lr_col: Annotated[str | None, typer.Option(help="Column of learning rates.")] = None,
    batch_col: Annotated[str | None, typer.Option(help="Column of batch sizes in tokens.")] = None,
    group_col: Annotated[
        str | None,
        typer.Option(
            help="Column naming the run each row was measured on (rows that are checkpoints of one run): "
            "a loss fit's bootstrap resamples each run's rows together."
        ),
    ] = None,
    allow_duplicates: Annotated[
        bool,
        typer.Option(
            "--allow-duplicates", help="Import data the study already holds from an earlier import."
        ),
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import finished runs measured elsewhere into a study (checked row by row before any is written)."""
    data = read_bytes(file)
    options = {
        "n_col": n_col,
        "d_col": d_col,
        "c_col": c_col,
        "loss_col": loss_col,
        "lr_col": lr_col,
        "batch_col": batch_col,
        "allow_duplicates": allow_duplicates,
        "group_col": group_col,
    }
    with open_service(url, token, database_url) as service:
        found = service.find_study(study)
        imported = service.import_runs(found["id"], data, options)
    if as_json:
        print_json(imported)
    else:
        typer.echo(
            f"imported {imported['count']} runs into study {found['name']!r} (id {found['id']}): "
            f"ids {_span(imported)}"
        )


def _span(imported: dict) -> str:
    """The new ids: FIRST..LAST when they are consecutive (an import may list only its first ids)."""
    first, last = imported.get("first_id"), imported.get("last_id")
    if first is not None and last is not None and last - first + 1 == imported["count"]:
        return f"{first}..{last}"
    return id_span(imported["ids"])


def register(cli: typer.Typer) -> None:
    """Add the import command to the CLI."""
    cli.command("import")(import_command)
