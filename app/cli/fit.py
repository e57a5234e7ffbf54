"""`hyperlaw fit`: fit a scaling law to a CSV of runs (being written)."""

from __future__ import annotations

import typer


def register(cli: typer.Typer) -> None:
    """Add the fit command to the CLI."""
