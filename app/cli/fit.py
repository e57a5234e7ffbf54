"""`hyperlaw fit`: fit a scaling law to a CSV of runs and print it, with intervals."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from app import holdouts
from app.cli.options import JsonOption
from app.tabular import Columns, TableError, read_columns, read_runs


def fail(message: str) -> None:
    """One line on stderr and exit code 2: what went wrong and how to fix it."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def settings_or_fail(**overrides: Any) -> Any:
    """The command's Settings (app.settings.load_settings); a bad value, such as a database URL of an
    unknown kind, is fail()'s one line naming the setting, not a validation traceback."""
    from pydantic import ValidationError

    from app.settings import load_settings

    try:
        return load_settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "settings"
        message = first["msg"].removeprefix("Value error, ")
        fail(message if message.startswith(name) else f"{name}: {message}")


@contextmanager
def reading_database(database_url: str | None) -> Iterator[Any]:
    """The configured Database for a command that reads it, disposed on exit; a domain error or an
    unreachable database inside the block becomes fail()'s one line."""
    from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError, ProgrammingError

    from app.db import Database
    from app.errors import HyperlawError

    url = settings_or_fail(database_url=database_url).database_url
    try:
        database = Database(url)
    except (ArgumentError, ImportError) as error:  # a malformed URL, or a driver not installed
        fail(f"cannot use the database URL ({url.partition('://')[0]}://…): {error}")
    try:
        yield database
    except HyperlawError as error:
        fail(str(error))
    except (OperationalError, InterfaceError, ProgrammingError) as error:
        where = database.engine.url.render_as_string(hide_password=True)
        reason = str(error.orig).splitlines()[0]
        unmigrated = "no such table" in reason or ("relation" in reason and "does not exist" in reason)
        fix = ": run `hyperlaw db upgrade` first" if unmigrated else ""
        fail(f"cannot read the database {where}: {reason}{fix}")
    finally:
        database.dispose()


def fit_summary(fit: Any) -> dict[str, Any]:
    """The JSON shape of a fit shared by the CLI and the API (draws left out)."""
    summary = {
        "law": fit.law,
        "params": fit.params,
        "ci95": {k: list(v) for k, v in fit.ci(0.95).items()} if fit.draws.shape[0] else None,
        "objective": fit.objective,
        "n_points": fit.n_points,
        "warnings": fit.warnings,
        "converged": fit.converged,
        "n_bootstrap": fit.n_bootstrap,
        "n_failed_replicates": fit.n_failed_replicates,
        "holdout": fit.holdout.to_dict() if fit.holdout else None,
    }
    if fit.candidates:
        summary["candidates"] = fit.candidates
    if fit.variable:
        summary["variable"] = fit.variable
    return summary


def _load(csv_path: Path, law: str, columns: Columns, against: str | None) -> dict[str, Any]:
    try:
        text = csv_path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {csv_path}: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        fail(
            f"{csv_path} is not a UTF-8 text file (byte {exc.start} cannot be decoded): give a CSV with a "
            "header row such as N,D,loss and one row per run, saved as UTF-8"
        )
    if "\0" in text:
        fail(
            f"{csv_path} holds NUL bytes, so it is not a CSV file: give a CSV with a header row such as N,D,loss"
        )
    source = str(csv_path)
    if law != "power":
        runs = read_runs(text, columns, source)
        return {
            "N": runs["N"],
            "loss": runs["loss"],
            **({"C": runs["C"]} if "C" in runs else {"D": runs["D"]}),
        }
    variable = against or ("C" if columns.c_col else "N")
    column = {"N": columns.n_col, "D": columns.d_col, "C": columns.c_col}.get(variable)
    if variable not in ("N", "D", "C") or column is None:
        fail("--against must be N, D or C (C also needs --c-col)")
    table = read_columns(text, [column, columns.loss_col], source)
    return {variable: table[column], "loss": table[columns.loss_col]}


def _print_table(fit: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"{fit.law}: {fit.law_spec.description}")
    table.add_column("parameter")
    table.add_column("estimate", justify="right")
    table.add_column("95% interval", justify="right")
    intervals = fit.ci(0.95) if fit.draws.shape[0] else {}
    for name, value in fit.params.items():
        lo_hi = intervals.get(name)
        table.add_row(name, f"{value:.6g}", f"{lo_hi[0]:.6g} .. {lo_hi[1]:.6g}" if lo_hi else "-")
    console.print(table)
    console.print(
        f"objective {fit.objective:.10g} on {fit.n_points} runs; {fit.n_bootstrap} bootstrap replicates"
    )
    for line in holdouts.describe(fit.holdout.to_dict() if fit.holdout else None):
        console.print(f"held-out extrapolation: {line}")
    compared = holdouts.describe_candidates(fit.candidates, fit.candidate_errors)
    if compared:
        console.print(f"candidates (held-out error): {compared}")
    for warning in fit.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


def register(cli: typer.Typer) -> None:
    """Add the fit command to the CLI."""

    @cli.command("fit")
    def fit_command(
        csv_path: Annotated[Path, typer.Option("--csv", help="CSV file, one row per run.")],
        law: Annotated[
            str, typer.Option(help="chinchilla, chinchilla_equal, kaplan, power or auto.")
        ] = "chinchilla",
        bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates (resampling runs).")] = 1000,
        seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
        n_col: Annotated[str, typer.Option(help="Column of parameter counts N.")] = "N",
        d_col: Annotated[str, typer.Option(help="Column of training tokens D.")] = "D",
        loss_col: Annotated[str, typer.Option(help="Column of final losses.")] = "loss",
        c_col: Annotated[
            str | None, typer.Option(help="Column of training FLOPs C; then D = C / (6N).")
        ] = None,
        against: Annotated[str | None, typer.Option(help="For --law power: fit against N, D or C.")] = None,
        delta: Annotated[float, typer.Option(help="Huber threshold on log-loss residuals.")] = 1e-3,
        as_json: JsonOption = False,
    ) -> None:
        """Fit a scaling law to runs in a CSV file and print it with 95% bootstrap intervals."""
        import fitting

        columns = Columns(n_col=n_col, d_col=d_col, loss_col=loss_col, c_col=c_col)
        if law not in fitting.known_laws():
            fail(f"unknown law {law!r}: choose one of {', '.join(fitting.known_laws())}")
        try:
            data = _load(csv_path, law, columns, against)
            fit = fitting.fit(law, bootstrap=bootstrap, seed=seed, delta=delta, **data)
        except (TableError, ValueError) as exc:
            fail(str(exc))
        if as_json:
            json.dump(fit_summary(fit), sys.stdout)
            sys.stdout.write("\n")
        else:
            _print_table(fit)
