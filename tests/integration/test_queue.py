"""The job queue on real SQLite and PostgreSQL: concurrent claims never share a run, stale
runs are requeued with their checkpoint, attempts are capped, release and cancel work, and a
shutting-down pool's stop request reaches its own runs only."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest

from app import runs
from app.db.tables import utcnow
from app.worker import queue
from tests.integration.helpers import make_study, queue_runs


def _claim(database, worker_id, **kwargs):
    with database.transaction(immediate=True) as session:
        run = queue.claim(session=session, worker_id=worker_id, **kwargs)
        return None if run is None else run.id


def test_two_sessions_claiming_at_once_get_different_runs(database):
    study = make_study(database)
    queue_runs(database, study, 2)
    first_claimed = threading.Event()
    release_first = threading.Event()
    got = {}

    def slow_claimer():
        with database.transaction(immediate=True) as session:
            got["a"] = queue.claim(session=session, worker_id="a").id
            first_claimed.set()
            # Hold the transaction open while the other session claims.
            release_first.wait(5)

    thread = threading.Thread(target=slow_claimer)
    thread.start()
    assert first_claimed.wait(5)
    second = threading.Thread(target=lambda: got.setdefault("b", _claim(database, "b")))
    second.start()
    second.join(0.3)  # on SQLite b waits for a's write lock; on PostgreSQL it skips a's row
    release_first.set()
    thread.join(5)
    second.join(5)
    assert got["a"] is not None and got["b"] is not None
    assert got["a"] != got["b"]


def test_many_claimers_take_each_run_exactly_once(database):
    study = make_study(database)
    ids = queue_runs(database, study, 40)
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(name):
        while (run_id := _claim(database, name)) is not None:
            with lock:
                claimed.append(run_id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(claimed) == sorted(ids)
    assert max(Counter(claimed).values()) == 1


def test_claim_on_sqlite_refuses_a_deferred_transaction(database):
    if not database.is_sqlite:
        pytest.skip("SQLite-only invariant")
    with pytest.raises(RuntimeError, match="IMMEDIATE"), database.transaction(immediate=False) as session:
        queue.claim(session=session, worker_id="w")


def test_stale_run_is_requeued_with_its_checkpoint_and_resumes(database, tmp_path):
    study = make_study(database)
    [run_id] = queue_runs(database, study, 1)
    assert _claim(database, "dead", checkpoint_root=tmp_path) == run_id
    later = utcnow() + timedelta(seconds=61)
    with database.transaction() as session:
        assert queue.requeue_stale(session=session, timeout_s=60, max_attempts=3, now=later) == {
            run_id: "queued"
        }
    assert _claim(database, "alive", checkpoint_root=tmp_path / "elsewhere") == run_id
    with database.transaction() as session:
        run = runs.get_run(session=session, run_id=run_id)
        assert (run.status, run.worker_id, run.attempts) == ("running", "alive", 2)
        assert run.checkpoint_path == str(tmp_path / f"run-{run_id}")  # resumes from the first checkpoint
        # A fresh heartbeat keeps it; the dead worker's heartbeat no longer holds it.
        assert queue.heartbeat(session=session, worker_id="alive", run_ids=[run_id]) == {run_id}
        assert queue.heartbeat(session=session, worker_id="dead", run_ids=[run_id]) == set()
        assert queue.requeue_stale(session=session, timeout_s=60, max_attempts=3) == {}


def test_attempts_are_capped_then_failed_with_the_error(database):
    study = make_study(database)
    [run_id] = queue_runs(database, study, 1)
    statuses = []
    for attempt in range(3):
        assert _claim(database, f"w{attempt}") == run_id
        with database.transaction() as session:
            statuses.append(
                queue.fail(
                    session=session, run_id=run_id, worker_id=f"w{attempt}", error="boom", max_attempts=3
                )
            )
    assert statuses == ["queued", "queued", "failed"]
    assert _claim(database, "w") is None
    with database.transaction() as session:
        run = runs.get_run(session=session, run_id=run_id)
        assert (run.status, run.error, run.attempts) == ("failed", "boom", 3)


def test_stale_run_out_of_attempts_fails(database):
    study = make_study(database)
    [run_id] = queue_runs(database, study, 1)
    _claim(database, "w")
    with database.transaction() as session:
        changed = queue.requeue_stale(
            session=session, timeout_s=1, max_attempts=1, now=utcnow() + timedelta(seconds=5)
        )
        assert changed == {run_id: "failed"}
        assert "stopped heartbeating" in runs.get_run(session=session, run_id=run_id).error


def test_release_keeps_the_attempt_and_cancel_stops_heartbeats(database):
    study = make_study(database)
    first, second = queue_runs(database, study, 2)
    assert _claim(database, "w") == first
    with database.transaction() as session:
        assert queue.release(session=session, run_id=first, worker_id="w")
    assert _claim(database, "w") == first
    with database.transaction() as session:
        assert runs.get_run(session=session, run_id=first).attempts == 1
        runs.cancel_run(session=session, run_id=first)
        runs.cancel_run(session=session, run_id=second)
    with database.transaction() as session:
        assert queue.heartbeat(session=session, worker_id="w", run_ids=[first]) == set()
        assert not queue.finish(session=session, run_id=first, worker_id="w", status="done")
        assert queue.queue_depth(session=session) == 0
    assert _claim(database, "w") is None


def test_a_stop_request_reaches_only_the_holders_runs_and_ends_with_the_claim(database):
    """A pool shutting down asks its runs to stop through the database (a Ray task reads it at its
    next curve write); another worker's runs are not asked, and whoever claims the run next starts
    without the request, whether it was released or requeued as stale."""
    study = make_study(database)
    mine, theirs = queue_runs(database, study, 2)
    assert _claim(database, "pool-a") == mine
    assert _claim(database, "pool-b") == theirs
    with database.transaction() as session:
        assert queue.request_stop(session=session, worker_id="pool-a", run_ids=[mine, theirs]) == {mine}
    with database.transaction() as session:
        assert queue.stops_requested(session=session, run_ids=[mine, theirs]) == {mine}
        assert queue.release(session=session, run_id=mine, worker_id="pool-a")
        assert queue.stops_requested(session=session, run_ids=[mine]) == set()
    assert _claim(database, "pool-c") == mine
    with database.transaction() as session:
        assert queue.request_stop(session=session, worker_id="pool-c", run_ids=[mine]) == {mine}
        old = utcnow() - timedelta(seconds=3600)
        assert queue.heartbeat(session=session, worker_id="pool-c", run_ids=[mine], now=old) == {mine}
        queue.requeue_stale(session=session, timeout_s=60, max_attempts=5)
    assert _claim(database, "pool-d") == mine
    with database.transaction() as session:
        assert queue.stops_requested(session=session, run_ids=[mine]) == set()


def test_finish_records_the_result(database):
    study = make_study(database)
    [run_id] = queue_runs(database, study, 1)
    _claim(database, "w")
    with database.transaction() as session:
        assert queue.finish(session=session, run_id=run_id, worker_id="w", status="done", loss=2.5, steps=16)
    with database.transaction() as session:
        run = runs.get_run(session=session, run_id=run_id)
        assert (run.status, run.loss, run.steps) == ("done", 2.5, 16)
        assert run.finished_at is not None


def test_a_claim_restricted_to_a_study_takes_only_its_runs(database):
    first, second = make_study(database, "first"), make_study(database, "second")
    queue_runs(database, first, 1)
    [theirs] = queue_runs(database, second, 1)
    assert _claim(database, "w", study_id=second) == theirs
    assert _claim(database, "w", study_id=second) is None  # the first study's run is not taken
