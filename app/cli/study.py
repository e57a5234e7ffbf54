"""`hyperlaw study create|list|show`: a server's studies (--url) or the database's (embedded)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from app.cli.fit import fail
from app.cli.options import DatabaseUrlOption, JsonOption, StudyArgument, TokenOption, UrlOption
from app.cli.service import (
    STATUSES,
    console,
    open_service,
    print_json,
    table,
    when,
)
from app.parametrization import describe
from trainer.spec import PARAMETRIZATIONS

app = typer.Typer(
    help="Create, list and show studies (families of proxy runs fitted together).",
    no_args_is_help=True,
)

SHOWN_FITS = 10


def fits_table(fits: list[dict[str, Any]], title: str | None = None, caption: str | None = None) -> Any:
    """Fits as rows: id, law, status, runs, bootstrap replicates, warnings, finished."""
    grid = table(title, caption)
    for name in ("id", "law", "status", "runs", "boot", "warnings", "finished (UTC)"):
        grid.add_column(name, justify="right" if name in ("id", "runs", "boot", "warnings") else "left")
    for fit in fits:
        grid.add_row(
            str(fit["id"]),
            fit["law"],
            fit["status"],
            "-" if fit.get("n_points") is None else str(fit["n_points"]),
            str(fit["bootstrap"]),
            str(len(fit.get("warnings") or [])),
            when(fit.get("finished_at")),
        )
    return grid


def parametrization_line(study: dict[str, Any]) -> str:
    """The study's parametrization as `study show` prints it."""
    return f"parametrization {describe(study.get('parametrization'), study.get('base_d_model'))}"


def run_counts_line(counts: dict[str, int]) -> str:
    shown = [f"{counts[s]} {s}" for s in STATUSES if counts.get(s)]
    return ", ".join(shown) if shown else "none"


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name no other study has.")],
    data: Annotated[
        str | None,
        typer.Option(
            help="Data source the runs train on: synthetic:markov (the default), pystdlib, text:PATH, ..."
        ),
    ] = None,
    description: Annotated[str | None, typer.Option(help="Free text shown with the study.")] = None,
    architecture: Annotated[str | None, typer.Option(help="Architecture family (default gpt).")] = None,
    defaults: Annotated[
        str | None,
        typer.Option(help="RunSpec fields the runs start from, as JSON: '{\"seq_len\": 64}'."),
    ] = None,
    parametrization: Annotated[
        str | None,
        typer.Option(
            help="sp (default) or mup: under mup the LR tuned at the base width transfers across width, "
            "and the study's LR law is fitted against tokens."
        ),
    ] = None,
    base_d_model: Annotated[
        int | None,
        typer.Option(
            help="mup: the width the LR is tuned at (default: the smallest d_model of the first runs)."
        ),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a study; prints its id."""
    spec: Any = {}
    if defaults is not None:
        try:
            spec = json.loads(defaults)
        except json.JSONDecodeError as error:
            fail(f"--defaults is not valid JSON: {error}")
        if not isinstance(spec, dict):
            fail("--defaults must be a JSON object of RunSpec fields, such as '{\"seq_len\": 64}'")
    if parametrization is not None and parametrization not in PARAMETRIZATIONS:
        fail(f"--parametrization {parametrization!r} is unknown: use {' or '.join(PARAMETRIZATIONS)}")
    if base_d_model is not None and base_d_model < 1:
        fail(f"--base-d-model ({base_d_model}) must be a positive width, such as the smallest d_model")
    if base_d_model is not None and (parametrization or spec.get("parametrization", "sp")) != "mup":
        fail("--base-d-model applies to mup studies only: add --parametrization mup")
    given = {
        "description": description,
        "data": data,
        "architecture": architecture,
        "parametrization": parametrization,
        "base_d_model": base_d_model,
    }
    # Only what was given: the server fills the rest (and tells a data source given twice apart).
    body = {"name": name, "defaults": spec, **{k: v for k, v in given.items() if v is not None}}
    with open_service(url, token, database_url) as service:
        study = service.create_study(body)
    if as_json:
        print_json(study)
    else:
        typer.echo(f"created study {study['name']!r} (id {study['id']})")


@app.command("list")
def list_command(
    url: UrlOption = None,
    token: TokenOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the studies, oldest first."""
    with open_service(url, token, database_url) as service:
        studies = service.list_studies()
    if as_json:
        print_json(studies)
        return
    if not studies:
        typer.echo("no studies yet: hyperlaw study create NAME")
        return
    grid = table()
    for name in ("id", "name", "kind", "data", "param.", "created (UTC)"):
        grid.add_column(name, justify="right" if name == "id" else "left", overflow="fold")
    for study in studies:
        grid.add_row(
            str(study["id"]),
            study["name"],
            study["kind"],
            study["data"],
            study.get("parametrization") or "sp",
            when(study["created_at"]),
        )
    console().print(grid)


@app.command("show")
def show(
    study: StudyArgument,
    url: UrlOption = None,
    token: TokenOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a study: its settings, its runs by status and its fits."""
    with open_service(url, token, database_url) as service:
        found = service.find_study(study)
        counts = service.run_counts(found["id"])
        fits = service.list_fits(found["id"])
    if as_json:
        print_json({**found, "runs": counts, "fits": fits})
        return
    out = console()
    out.print(f"[bold]study {found['name']}[/bold] (id {found['id']}, {found['kind']})")
    if found["description"]:
        out.print(found["description"], markup=False)
    out.print(f"data {found['data']}, architecture {found['architecture']}", markup=False)
    out.print(f"defaults {json.dumps(found['defaults'])}", markup=False)
    out.print(parametrization_line(found), markup=False)
    out.print(f"created {when(found['created_at'])} UTC")
    out.print(f"runs: {run_counts_line(counts)}")
    if not fits:
        out.print("fits: none yet (hyperlaw fits create ...)")
        return
    earlier = len(fits) - SHOWN_FITS
    caption = f"{earlier} earlier: hyperlaw fits list {found['id']}" if earlier > 0 else None
    out.print(fits_table(list(reversed(fits))[:SHOWN_FITS], "fits, latest first", caption))


def register(cli: typer.Typer) -> None:
    """Add the study command group to the CLI."""
    cli.add_typer(app, name="study")
