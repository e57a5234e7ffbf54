"""Shared fixtures: real databases (SQLite and PostgreSQL) built by the migrations.

`db_url` is parametrised over both engines and gives each test module a fresh database
migrated to head (never `create_all`). PostgreSQL needs HYPERLAW_TEST_POSTGRES_URL, an
admin URL of a server where databases may be created (.ci/run starts one); without it
those cases are skipped. `database` empties every table before each test.

`shared_data` is the folder of published reference data that is not shipped with the
package: HYPERLAW_SHARED_DATA, by default ../shared/data beside the repository; without it
the tests that ask for it are skipped. Every test that reads reference data (that folder, or
the package's own Chinchilla points in app/data) carries the `data` marker; a test that asks
for `shared_data` gets it even when its module forgets.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

POSTGRES_ENV = "HYPERLAW_TEST_POSTGRES_URL"
ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
# The package's own copy of Epoch AI's Chinchilla Fig. 4 points (shipped in app/data).
CHINCHILLA_CSV = (
    Path(__file__).resolve().parents[1] / "app" / "data" / "chinchilla_epoch" / "chinchilla_fig4_points.csv"
)
SHARED_DATA_ENV = "HYPERLAW_SHARED_DATA"
DEFAULT_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The published reference data folder (HYPERLAW_SHARED_DATA, default ../shared/data beside
    the repository), or skip the test with the reason when it is absent."""
    folder = Path(os.environ.get(SHARED_DATA_ENV) or DEFAULT_SHARED_DATA)
    if not folder.is_dir():
        pytest.skip(
            f"published reference data not found at {folder}: set {SHARED_DATA_ENV} to the shared "
            "data folder (default ../shared/data beside the repository)"
        )
    return folder


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that reads ../shared data through `shared_data` is a `data` test, before -m selects."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()) and item.get_closest_marker("data") is None:
            item.add_marker(pytest.mark.data)


def _fresh_postgres_database(admin_url: str) -> tuple[str, object]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"hyperlaw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def make_database_url(engine: str, tmp_path_factory) -> tuple[str, object]:
    """A fresh, empty database of `engine` kind and a function that removes it."""
    if engine == "sqlite":
        path = tmp_path_factory.mktemp("db") / "hyperlaw.db"
        return f"sqlite:///{path}", lambda: None
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        pytest.skip(f"{POSTGRES_ENV} is not set: no PostgreSQL server to test against (.ci/run starts one)")
    return _fresh_postgres_database(admin_url)


@pytest.fixture(scope="module", params=ENGINES)
def db_url(request, tmp_path_factory):
    """URL of a fresh database migrated to head, one per test module and engine."""
    from app.db import upgrade

    url, drop = make_database_url(request.param, tmp_path_factory)
    upgrade(url)
    yield url
    drop()


@pytest.fixture(scope="module")
def module_database(db_url):
    from app.db import Database

    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def database(module_database):
    """The module's database with every table emptied."""
    from app.db.tables import Base

    with module_database.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    return module_database
