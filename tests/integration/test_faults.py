"""A database that fails in the middle of a write request: the answer is 503, nothing of
the request is left in the database, and the same request again (same Idempotency-Key)
creates everything once. Real servers: SQLite answers an invalid statement with an
OperationalError; PostgreSQL has the request's connection terminated under it.

A run process whose curve writes fail as an unreachable database fails (OperationalError) waits
the outage out, or gives its run back without using an attempt (tests/integration/test_outage.py
stops a real PostgreSQL server)."""

from __future__ import annotations

import time
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.exc import OperationalError

from app import curves, tokens
from app.db.tables import Run
from app.settings import Settings
from app.worker import queue, retry, runner
from tests.integration.helpers import TINY_SPEC, make_study, queue_runs
from tests.integration.server import ServerThread
from trainer.loop import CurvePoint

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


# ---------------------------------------------------------------- a run process and a database outage


def _unreachable() -> OperationalError:
    return OperationalError(
        "INSERT INTO curve_points ...", {}, ConnectionError("server closed the connection")
    )


def _claimed_run(database, tmp_path, **spec) -> int:
    study = make_study(database)
    (run_id,) = queue_runs(database, study, 1, **spec)
    with database.transaction(immediate=True) as session:
        claimed = queue.claim(session=session, worker_id="w", checkpoint_root=tmp_path / "checkpoints")
    assert claimed.id == run_id
    return run_id


def _stored_steps(database, run_id: int) -> list[int]:
    with database.transaction(immediate=False) as session:
        return [p.step for p in curves.get_curve(session=session, run_id=run_id)]


def test_curve_writes_wait_out_a_brief_outage_and_store_each_point_once(database, tmp_path, monkeypatch):
    """Four writes fail as an unreachable database fails: routine flushes keep the points in memory
    and training goes on; the flush before the checkpoint retries until the database answers."""
    run_id = _claimed_run(database, tmp_path)
    settings = Settings(database_url=database.url, curve_batch_size=2, curve_write_retry_s=30)
    writer = runner.CurveWriter(database, run_id, "w", settings, checkpoint_every=10, total_steps=10)
    real_write, failures = curves.write_points, []

    def write_points(**kwargs):
        if len(failures) < 4:
            failures.append(len(kwargs["points"]))
            raise _unreachable()
        return real_write(**kwargs)

    monkeypatch.setattr(runner.curves, "write_points", write_points)
    monkeypatch.setattr(retry.time, "sleep", lambda _s: None)  # no real waiting between the retries
    for step in range(1, 11):
        writer.retry_at = 0.0  # every routine flush tries (the pause after a failure is for real outages)
        writer(CurvePoint(step, 256 * step, 3.0, None, 1e-3, None, 0.1 * step))
    assert writer.failed_flushes >= 1  # a routine flush failed softly: training went on
    assert len(failures) == 4 and failures[-1] > failures[0]  # the buffer grew while the database was away
    assert writer.buffer == [] and _stored_steps(database, run_id) == list(range(1, 11))


def test_a_run_whose_writes_fail_past_the_budget_is_released_with_its_attempt(
    database, tmp_path, monkeypatch
):
    """The database never takes the curve: after the retry budget the run goes back to the queue at
    once, its attempt given back and no error recorded (before: `failed` attempts, or `running`
    until the heartbeat timeout)."""
    run_id = _claimed_run(database, tmp_path, tokens=256 * 40, eval_every_tokens=256 * 10, eval_tokens=256)

    def write_points(**_kwargs):
        raise _unreachable()

    monkeypatch.setattr(runner.curves, "write_points", write_points)
    settings = Settings(
        database_url=database.url, checkpoint_dir=tmp_path / "checkpoints", curve_write_retry_s=0.5
    )
    started = time.monotonic()
    status = runner.execute(settings, run_id, "w", install_signal_handlers=False)
    assert status == "queued" and time.monotonic() - started < 30
    with database.transaction(immediate=False) as session:
        run = session.get(Run, run_id)
        assert (run.status, run.attempts, run.worker_id, run.error) == ("queued", 0, None, None)
    assert _stored_steps(database, run_id) == []
