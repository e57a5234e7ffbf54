"""The `hyperlaw` command line: one typer app, one module per command group.

Each submodule exposes `register(cli)`, which adds its commands; keeping them apart lets
the fitting commands start without importing torch or the web stack.
"""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli import (
    coord_check,
    db,
    demo,
    fit,
    fits,
    imports,
    plan,
    predict,
    report,
    runs,
    serve,
    study,
    token,
    train,
    worker,
)

cli = typer.Typer(
    name="hyperlaw",
    help="Scaling-law and hyperparameter prediction: train proxies, fit laws, predict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from app.reports import version

        typer.echo(f"hyperlaw {version()}")
        raise typer.Exit()


@cli.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Scaling-law and hyperparameter prediction: train proxies, fit laws, predict."""


for _module in (
    fit,
    predict,
    report,
    plan,
    study,
    runs,
    imports,
    fits,
    demo,
    train,
    db,
    worker,
    serve,
    token,
    coord_check,
):
    _module.register(cli)


def main() -> None:
    """Console-script entry point."""
    cli()
