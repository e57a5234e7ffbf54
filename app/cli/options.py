"""The options many commands share, each defined once with its help text, so `--url`, `--token`,
`--database-url`, `--json`, a study argument and the batch-transfer pair `--batch`/`--optimizer`
read the same in every command's --help.

    def show(study: StudyArgument, url: UrlOption = None, as_json: JsonOption = False): ...
"""

from __future__ import annotations

from typing import Annotated

import typer

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Talk to this server (http://host:port) instead of the database."),
]
TokenOption = Annotated[
    str | None, typer.Option("--token", envvar="HYPERLAW_TOKEN", help="Bearer token for --url.")
]
DatabaseUrlOption = Annotated[
    str | None,
    typer.Option("--database-url", help="Work on this database (overrides HYPERLAW_DATABASE_URL)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
StudyArgument = Annotated[str, typer.Argument(help="Study id or name.")]
BatchOption = Annotated[
    float | None,
    typer.Option(
        "--batch", help="Your batch size in tokens: adds the LR at this batch, from the LR law's optimum."
    ),
]
# The rules of fitting.transfer.RULES, named here so that --help needs no numerics import.
OPTIMIZERS = ("adam", "sgd")
OptimizerOption = Annotated[
    str, typer.Option("--optimizer", help="The rule for --batch: adam (square root) or sgd (linear).")
]


def unknown_optimizer(optimizer: str) -> str | None:
    """The one-line error for an --optimizer that is no rule, else None."""
    if optimizer in OPTIMIZERS:
        return None
    return f"--optimizer {optimizer!r} is unknown: use {' or '.join(OPTIMIZERS)}"


__all__ = [
    "OPTIMIZERS",
    "BatchOption",
    "DatabaseUrlOption",
    "JsonOption",
    "OptimizerOption",
    "StudyArgument",
    "TokenOption",
    "UrlOption",
    "unknown_optimizer",
]
