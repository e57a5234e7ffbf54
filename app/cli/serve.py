"""`hyperlaw serve`: migrate the database, then serve the API (optionally with a worker pool)."""

from __future__ import annotations

import typer

from app.cli.options import DatabaseUrlOption


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    database_url: DatabaseUrlOption = None,
    workers: int = typer.Option(
        0, "--workers", min=0, help="Also train runs here, K at once (embedded pool)."
    ),
    migrate: bool = typer.Option(True, "--migrate/--no-migrate", help="Apply migrations at start-up."),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Serve the REST API under /v1 (OpenAPI at /docs)."""
    import logging
    import threading

    import uvicorn

    from app.cli.fit import reading_database, settings_or_fail
    from app.db import upgrade
    from app.main import create_app

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_or_fail(database_url=database_url)
    if migrate:
        # A database that cannot be reached or migrated is one line and exit 2, as in every command.
        with reading_database(settings.database_url):
            upgrade(settings.database_url)
    pool = pool_thread = None
    if workers:
        from app.worker.pool import Pool

        pool = Pool(settings, concurrency=workers)
        pool_thread = threading.Thread(target=pool.run, name="hyperlaw-pool", daemon=True)
        pool_thread.start()
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
    finally:
        if pool is not None:
            # uvicorn has handled SIGTERM; the in-flight runs checkpoint and are released.
            pool.stop()
            pool_thread.join(pool.shutdown_grace_s + 10)


def register(cli: typer.Typer) -> None:
    """Add the serve command to the CLI."""
    cli.command("serve")(serve)
