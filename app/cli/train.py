"""`hyperlaw train`: train one proxy model (filled in by the trainer work)."""

from __future__ import annotations

import typer


def register(cli: typer.Typer) -> None:
    """Add the train command to the CLI (placeholder until the trainer lands)."""
