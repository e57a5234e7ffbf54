"""`hyperlaw demo`: the end-to-end demo (being written)."""

from __future__ import annotations

import typer


def register(cli: typer.Typer) -> None:
    """Add the demo command to the CLI."""
