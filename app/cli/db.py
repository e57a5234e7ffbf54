"""`hyperlaw db upgrade|downgrade|current`: apply the schema migrations."""

from __future__ import annotations

import typer

db_cli = typer.Typer(help="Database schema: apply or inspect the migrations.", no_args_is_help=True)


def _url(database_url: str | None) -> str:
    from app.settings import load_settings

    return load_settings(database_url=database_url).database_url


def _migrate(direction: str, database_url: str | None, revision: str) -> None:
    """Run migrate.upgrade or migrate.downgrade to `revision`, then say where the database is."""
    from app.db import migrate

    url = _url(database_url)
    getattr(migrate, direction)(url, revision)
    typer.echo(f"database at {migrate.current(url) or 'base'}")


@db_cli.command("upgrade")
def upgrade(
    revision: str = typer.Argument("head", help="Target revision."),
    database_url: str = typer.Option(None, "--database-url", help="Overrides HYPERLAW_DATABASE_URL."),
) -> None:
    """Migrate the database up to REVISION (default: the latest)."""
    _migrate("upgrade", database_url, revision)


@db_cli.command("downgrade")
def downgrade(
    revision: str = typer.Argument(..., help="Target revision ('base' empties the schema)."),
    database_url: str = typer.Option(None, "--database-url", help="Overrides HYPERLAW_DATABASE_URL."),
) -> None:
    """Migrate the database down to REVISION."""
    _migrate("downgrade", database_url, revision)


@db_cli.command("current")
def current(
    database_url: str = typer.Option(None, "--database-url", help="Overrides HYPERLAW_DATABASE_URL."),
) -> None:
    """Print the revision the database is at."""
    from app.db import migrate

    typer.echo(migrate.current(_url(database_url)) or "base")


def register(cli: typer.Typer) -> None:
    """Add the `db` command group to the CLI."""
    cli.add_typer(db_cli, name="db")
