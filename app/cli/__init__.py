"""The `hyperlaw` command line: one typer app, one module per command group.

Each submodule exposes `register(cli)`, which adds its commands; keeping them apart lets
the fitting commands start without importing torch or the web stack.
"""

from __future__ import annotations

import typer

from app.cli import db, demo, fit, plan, predict, serve, token, train, worker

cli = typer.Typer(
    name="hyperlaw",
    help="Scaling-law and hyperparameter prediction: train proxies, fit laws, predict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in (fit, predict, plan, demo, train, db, worker, serve, token):
    _module.register(cli)


def main() -> None:
    """Console-script entry point."""
    cli()
