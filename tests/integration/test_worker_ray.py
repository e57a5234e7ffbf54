"""The pool with the Ray backend (a local Ray instance, the real trainer, SQLite): runs finish
with complete curves, and a pool stopped mid-run releases its run, which a later pool resumes
from the checkpoint without duplicating or dropping a point."""

from __future__ import annotations

import threading
import time

import pytest

from app import curves, runs
from app.settings import Settings
from app.worker.pool import Pool
from app.worker.ray_backend import CANCELLED_EXITCODE
from tests.integration.helpers import make_study, queue_runs, worker_settings

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'hyperlaw[cluster]')")
pytestmark = pytest.mark.slow

# Long enough that the pool's stop lands mid-run: the test stops the pool once 60 points are written.
# At 600 steps a loaded machine once saw the run finish before the stop reached its Ray task, and at
# 1,200 a quiet one did (the tiny model trains faster there than the stop travels).
STEPS = 3000
LONG = {"tokens": 256 * STEPS, "eval_every_tokens": 256 * 20, "eval_tokens": 256}


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def sqlite_database(database):
    if not database.is_sqlite:
        pytest.skip("one engine is enough for the launcher; the queue is the same code on both")
    return database


def _points(database, run_id) -> dict[int, float]:
    with database.transaction() as session:
        return {p.step: p.wall_time for p in curves.get_curve(session=session, run_id=run_id)}


def _steps(database, run_id) -> list[int]:
    return sorted(_points(database, run_id))


def _run(database, run_id):
    with database.transaction() as session:
        return runs.get_run(session=session, run_id=run_id)


def test_ray_tasks_train_runs_to_complete_curves(ray_cluster, sqlite_database, tmp_path):
    database = sqlite_database
    ids = queue_runs(database, make_study(database), 2)
    Pool(worker_settings(database, tmp_path, heartbeat_timeout_s=60), concurrency=2, backend="ray").run(
        exit_when_idle=True
    )
    for run_id in ids:
        run = _run(database, run_id)
        assert run.status == "done", run.error
        assert run.loss is not None and 0 < run.loss < 10
        assert _steps(database, run_id) == list(range(1, 17))


def test_a_stopped_ray_pool_releases_its_run_which_resumes(ray_cluster, sqlite_database, tmp_path):
    database = sqlite_database
    [run_id] = queue_runs(database, make_study(database), 1, **LONG)
    settings = worker_settings(database, tmp_path, heartbeat_timeout_s=60)
    # Ray's soft cancel alone sometimes never reached a task busy in torch (twice in full-suite runs
    # the 30 s grace ended first); the pool also asks through the database, which the task reads at
    # its next curve write. The stop must land well inside the grace, without the forced cancel.
    grace = 30.0
    pool = Pool(settings, concurrency=1, backend="ray", shutdown_grace_s=grace)
    thread = threading.Thread(target=pool.run)
    thread.start()
    deadline = time.monotonic() + 120
    while len(_steps(database, run_id)) < 60:
        assert time.monotonic() < deadline, "the Ray task never wrote 60 points"
        time.sleep(0.1)
    stopped_at = time.monotonic()
    pool.stop()
    thread.join(60)
    assert not thread.is_alive()
    assert time.monotonic() - stopped_at < grace / 2, "the task did not stop until the grace ran out"
    released = _run(database, run_id)
    assert (released.status, released.worker_id) == ("queued", None)
    # A release is free: the stop records no attempt. One CI run (of many) ended here with one
    # attempt used, its cause not captured; an attempt that failed on its own before the stop
    # (its error recorded, the run then claimed again) explains that, so only such an attempt may
    # count, never one that the stop's cancel caused.
    if released.attempts:
        assert released.attempts == 1 and released.error, released.error
        stopped_by_us = ("KeyboardInterrupt", f"exited with code {CANCELLED_EXITCODE}")
        assert not any(mark in released.error for mark in stopped_by_us), released.error
    before = _points(database, run_id)
    assert 60 <= len(before) < STEPS and sorted(before) == list(range(1, len(before) + 1))

    Pool(settings, concurrency=1, backend="ray", worker_id="rescuer").run(exit_when_idle=True)
    run = _run(database, run_id)
    assert (run.status, run.worker_id, run.attempts) == ("done", "rescuer", released.attempts + 1), run.error
    after = _points(database, run_id)
    assert sorted(after) == list(range(1, STEPS + 1))
    assert after[1] == before[1] and after[20] == before[20]  # resumed from the checkpoint, not retrained


def test_unknown_backend_is_refused(tmp_path):
    with pytest.raises(ValueError, match="backend 'slurm' is unknown"):
        Pool(Settings(database_url=f"sqlite:///{tmp_path}/x.db"), backend="slurm")
