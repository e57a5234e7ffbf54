"""Migrations: an empty database upgrades to head and back down, and head equals the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from app.db import Database, downgrade, upgrade
from app.db.migrate import current
from app.db.tables import Base
from tests.conftest import ENGINES, make_database_url

TABLES = {"studies", "runs", "curve_points", "fits", "api_tokens"}


@pytest.fixture(params=ENGINES)
def empty_url(request, tmp_path_factory):
    url, drop = make_database_url(request.param, tmp_path_factory)
    yield url
    drop()


def _tables(url: str) -> set[str]:
    database = Database(url)
    try:
        return set(inspect(database.engine).get_table_names()) - {"alembic_version"}
    finally:
        database.dispose()


def test_upgrade_to_head_and_back_down(empty_url):
    assert current(empty_url) is None
    upgrade(empty_url)
    assert _tables(empty_url) == TABLES
    assert current(empty_url) is not None
    downgrade(empty_url, "base")
    assert _tables(empty_url) == set()
    upgrade(empty_url)  # and up again: the downgrade left nothing behind that blocks it
    assert _tables(empty_url) == TABLES


def test_migrations_equal_the_models(empty_url):
    upgrade(empty_url)
    database = Database(empty_url)
    try:
        with database.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        database.dispose()
    assert diff == [], f"models and migrations differ; write a revision: {diff}"


def test_cli_db_upgrade_and_current(tmp_path):
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path}/cli.db"
    cli = [sys.executable, "-c", "from app.cli import main; main()", "db"]
    upgraded = subprocess.run(
        [*cli, "upgrade", "--database-url", url], capture_output=True, text=True, timeout=120
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert _tables(url) == TABLES
    shown = subprocess.run(
        [*cli, "current", "--database-url", url], capture_output=True, text=True, timeout=120
    )
    assert shown.stdout.strip() == current(url) != "base"
