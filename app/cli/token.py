"""`hyperlaw token create|list|revoke`: API tokens (stored hashed; shown once; optionally expiring)."""

from __future__ import annotations

import typer

from app.cli.options import DatabaseUrlOption

token_cli = typer.Typer(help="API bearer tokens.", no_args_is_help=True)


@token_cli.command("create")
def create(
    scope: str = typer.Option(
        "write",
        "--scope",
        help="read, write (may also read) or admin (may also write, and manage tokens over /v1/tokens).",
    ),
    name: str = typer.Option("", "--name", help="A note saying whose token this is."),
    expires_in: str | None = typer.Option(
        None, "--expires-in", help="Lifetime, e.g. 30d, 12h, 2w (s, m, h, d, w); default: until revoked."
    ),
    database_url: DatabaseUrlOption = None,
) -> None:
    """Create a token and print it alone on stdout (it cannot be shown again)."""
    from app import tokens
    from app.cli.fit import reading_database
    from app.errors import InvalidInput

    try:
        lifetime = tokens.parse_duration(expires_in) if expires_in is not None else None
    except InvalidInput as error:
        raise typer.BadParameter(str(error), param_hint="--expires-in") from error
    with reading_database(database_url) as database:
        try:
            with database.transaction() as session:
                token, _row = tokens.create_token(
                    session=session, scope=scope, name=name, expires_in=lifetime
                )
        except InvalidInput as error:
            raise typer.BadParameter(str(error), param_hint="--scope") from error
    typer.echo(token)


@token_cli.command("list")
def list_(database_url: DatabaseUrlOption = None) -> None:
    """List tokens by prefix, scope, state and expiry (never the secret)."""
    from app import tokens
    from app.cli.fit import reading_database
    from app.db.tables import utcnow

    now = utcnow()
    with reading_database(database_url) as database:
        with database.transaction(immediate=False) as session:
            for row in tokens.list_tokens(session=session):
                state = tokens.state(row, now)
                expires = f"{row.expires_at:%Y-%m-%d %H:%M}" if row.expires_at else "never"
                typer.echo(
                    f"{row.prefix}\t{row.scope}\t{state}\t{row.created_at:%Y-%m-%d}\t{expires}\t{row.name}"
                )


@token_cli.command("revoke")
def revoke(
    prefix: str = typer.Argument(..., help="The token's prefix (hl_<prefix>_...)."),
    database_url: DatabaseUrlOption = None,
):
    """Revoke a token."""
    from app import tokens
    from app.cli.fit import fail, reading_database
    from app.errors import NotFound

    with reading_database(database_url) as database:
        try:
            with database.transaction() as session:
                tokens.revoke_token(session=session, prefix=prefix)
        except NotFound:
            fail(f"no token has the prefix {prefix!r}: `hyperlaw token list` shows the prefixes")
    typer.echo(f"revoked {prefix}")


def register(cli: typer.Typer) -> None:
    """Add the token command group to the CLI."""
    cli.add_typer(token_cli, name="token")
