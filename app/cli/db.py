"""`hyperlaw db upgrade|downgrade|current`: apply the schema migrations."""

from __future__ import annotations

import typer

from app.cli.options import DatabaseUrlOption

db_cli = typer.Typer(help="Database schema: apply or inspect the migrations.", no_args_is_help=True)


def _url(database_url: str | None) -> str:
    from app.cli.fit import settings_or_fail

    return settings_or_fail(database_url=database_url).database_url


def _migrate(direction: str, database_url: str | None, revision: str) -> None:
    """Run migrate.upgrade or migrate.downgrade to `revision`, then say where the database is; an
    unreachable database is one line and exit 2."""
    from alembic.util import CommandError

    from app.cli.fit import fail, reading_database
    from app.db import migrate

    url = _url(database_url)
    with reading_database(url):
        try:
            getattr(migrate, direction)(url, revision)
        except CommandError as error:  # an unknown revision
            fail(f"{error}: `hyperlaw db current` shows where the database is")
        typer.echo(f"database at {migrate.current(url) or 'base'}")


@db_cli.command("upgrade")
def upgrade(
    revision: str = typer.Argument("head", help="Target revision."),
    database_url: DatabaseUrlOption = None,
) -> None:
    """Migrate the database up to REVISION (default: the latest)."""
    _migrate("upgrade", database_url, revision)


@db_cli.command("downgrade")
def downgrade(
    revision: str = typer.Argument(..., help="Target revision ('base' empties the schema)."),
    database_url: DatabaseUrlOption = None,
) -> None:
    """Migrate the database down to REVISION."""
    _migrate("downgrade", database_url, revision)


@db_cli.command("current")
def current(
    database_url: DatabaseUrlOption = None,
) -> None:
    """Print the revision the database is at."""
    from app.cli.fit import reading_database
    from app.db import migrate

    url = _url(database_url)
    with reading_database(url):
        typer.echo(migrate.current(url) or "base")


def register(cli: typer.Typer) -> None:
    """Add the `db` command group to the CLI."""
    cli.add_typer(db_cli, name="db")
