"""The options many commands share, each defined once with its help text, so `--url`, `--token`,
`--database-url`, `--json` and a study argument read the same in every command's --help.

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

__all__ = ["DatabaseUrlOption", "JsonOption", "StudyArgument", "TokenOption", "UrlOption"]
