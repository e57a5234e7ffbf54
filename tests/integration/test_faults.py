"""A database that fails in the middle of a write request: the answer is 503, nothing of
the request is left in the database, and the same request again (same Idempotency-Key)
creates everything once. Real servers: SQLite answers an invalid statement with an
OperationalError; PostgreSQL has the request's connection terminated under it."""

from __future__ import annotations

from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import create_engine, event, func, select, text

from app import tokens
from app.db.tables import Run
from app.settings import Settings
from tests.integration.helpers import TINY_SPEC, make_study
from tests.integration.server import ServerThread

SWEEP = {"base": TINY_SPEC, "grid": {"lr": [1e-3, 2e-3, 4e-3], "seed": [0, 1, 2]}}  # 9 runs


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory):
    settings = Settings(database_url=db_url, checkpoint_dir=tmp_path_factory.mktemp("checkpoints"))
    with ServerThread(settings) as running:
        yield running


@contextmanager
def failing_after_the_insert(engine):
    """Break the connection of the request that releases the sweep's savepoint, i.e. after its
    runs were inserted and before they are committed."""
    fired = []
    postgres = engine.dialect.name == "postgresql"
    killer = create_engine(engine.url, isolation_level="AUTOCOMMIT") if postgres else None

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        if fired or not statement.startswith("RELEASE SAVEPOINT"):
            return statement, parameters
        fired.append(statement)
        if not postgres:
            return "SELECT * FROM the_disk_went_away", ()
        pid = conn.connection.dbapi_connection.info.backend_pid
        with killer.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return statement, parameters

    event.listen(engine, "before_cursor_execute", before_cursor_execute, retval=True)
    try:
        yield fired
    finally:
        event.remove(engine, "before_cursor_execute", before_cursor_execute)
        if killer is not None:
            killer.dispose()


def _run_count(database) -> int:
    with database.transaction(immediate=False) as session:
        return session.scalar(select(func.count()).select_from(Run))


def test_a_database_failing_mid_sweep_leaves_no_partial_write(server, database):
    with database.transaction() as session:
        write, _ = tokens.create_token(session=session, scope="write")
    study = make_study(database)
    headers = {"Authorization": f"Bearer {write}", "Idempotency-Key": "sweep-1"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        with failing_after_the_insert(server.app.state.database.engine) as fired:
            failed = client.post(f"/v1/studies/{study}/sweeps", json=SWEEP)
        assert fired, "the fault was never injected: the sweep no longer uses a savepoint"
        assert failed.status_code == 503, failed.text
        assert "nothing was written" in failed.json()["detail"] and failed.headers["retry-after"]
        assert _run_count(database) == 0

        retried = client.post(f"/v1/studies/{study}/sweeps", json=SWEEP)
        assert retried.status_code == 201 and retried.json()["count"] == 9, retried.text
        again = client.post(f"/v1/studies/{study}/sweeps", json=SWEEP)
        assert again.status_code == 200 and again.json()["ids"] == retried.json()["ids"]
    assert _run_count(database) == 9
