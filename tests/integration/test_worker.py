"""The worker pool on real SQLite and PostgreSQL with the real trainer: runs finish with
complete curves; SIGTERM checkpoints and releases the run in flight, which then resumes
without duplicating or dropping a point; so does a stop asked through the database (how a Ray
task hears its pool shut down); a cancelled run's process is stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app import curves, runs
from app.settings import Settings
from app.worker import queue, runner
from app.worker.pool import Pool, gpu_for_slot
from tests.integration.helpers import make_study, queue_runs, worker_settings

# Long enough (400 steps, a few seconds) to be interrupted; a checkpoint every 20 steps.
LONG = {"tokens": 256 * 400, "eval_every_tokens": 256 * 20, "eval_tokens": 256}


def _wait(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _points(database, run_id):
    with database.transaction() as session:
        return [(p.step, p.wall_time) for p in curves.get_curve(session=session, run_id=run_id)]


def _run(database, run_id):
    with database.transaction() as session:
        return runs.get_run(session=session, run_id=run_id)


def test_pool_trains_runs_to_complete_curves(database, tmp_path):
    ids = queue_runs(database, make_study(database), 2)
    Pool(worker_settings(database, tmp_path), concurrency=2).run(exit_when_idle=True)
    for run_id in ids:
        run = _run(database, run_id)
        assert run.status == "done", run.error
        assert run.loss is not None and 0 < run.loss < 10
        assert run.steps == 16 and run.n_params_non_embedding > 0
        assert [step for step, _ in _points(database, run_id)] == list(range(1, 17))
        assert not Path(run.checkpoint_path).exists()  # removed once the run is done


def test_sigterm_checkpoints_releases_and_the_run_resumes(database, tmp_path):
    [run_id] = queue_runs(database, make_study(database), 1, **LONG)
    settings = worker_settings(database, tmp_path)
    env = {
        **os.environ,
        "HYPERLAW_DATABASE_URL": database.url,
        "HYPERLAW_CHECKPOINT_DIR": str(settings.checkpoint_dir),
        "HYPERLAW_HEARTBEAT_INTERVAL_S": "0.3",
        "HYPERLAW_WORKER_POLL_S": "0.2",
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; main()", "worker", "--concurrency", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait(lambda: len(_points(database, run_id)) >= 60, what="the run to train 60 steps")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0, worker.stderr.read().decode()[-2000:]
    finally:
        if worker.poll() is None:
            worker.kill()
    run = _run(database, run_id)
    assert (run.status, run.worker_id, run.attempts) == ("queued", None, 0)
    before = dict(_points(database, run_id))
    assert 60 <= max(before) < 400
    assert any(Path(run.checkpoint_path).iterdir())

    Pool(settings, concurrency=1).run(exit_when_idle=True)
    run = _run(database, run_id)
    assert run.status == "done", run.error
    after = _points(database, run_id)
    assert [step for step, _ in after] == list(range(1, 401))
    # Resumed, not restarted: the first steps were not trained (and written) again.
    assert dict(after)[1] == before[1] and dict(after)[20] == before[20]


def test_a_stop_asked_through_the_database_checkpoints_and_releases_the_run(database, tmp_path):
    """How a Ray task (no signal reaches it) hears its pool shut down: the run's process, here
    runner.execute on a thread without signal handlers, reads the request at its next curve write,
    stops at its next checkpoint and gives the run back with no attempt used."""
    [run_id] = queue_runs(database, make_study(database), 1, **LONG)
    settings = worker_settings(database, tmp_path)
    with database.transaction(immediate=True) as session:
        claimed = queue.claim(session=session, worker_id="w", checkpoint_root=settings.checkpoint_dir)
    assert claimed.id == run_id
    ended: list[str] = []
    thread = threading.Thread(
        target=lambda: ended.append(runner.execute(settings, run_id, "w", install_signal_handlers=False))
    )
    thread.start()
    try:
        _wait(lambda: len(_points(database, run_id)) >= 60, what="the run to train 60 steps")
        with database.transaction() as session:
            assert queue.request_stop(session=session, worker_id="w", run_ids=[run_id]) == {run_id}
    finally:
        thread.join(60)
    assert not thread.is_alive() and ended == ["queued"]
    run = _run(database, run_id)
    assert (run.status, run.worker_id, run.attempts, run.stop_requested) == ("queued", None, 0, False)
    steps = [step for step, _ in _points(database, run_id)]
    assert 60 <= len(steps) < 400 and steps == list(range(1, len(steps) + 1))
    assert len(steps) % 20 == 0  # it stopped right after a checkpoint: nothing trained is unsaved
    assert any(Path(run.checkpoint_path).iterdir())


def test_a_dead_workers_run_is_requeued_and_resumes_from_its_checkpoint(database, tmp_path):
    [run_id] = queue_runs(database, make_study(database), 1, **LONG)
    settings = worker_settings(database, tmp_path)
    env = {
        **os.environ,
        "HYPERLAW_DATABASE_URL": database.url,
        "HYPERLAW_CHECKPOINT_DIR": str(settings.checkpoint_dir),
        "HYPERLAW_HEARTBEAT_INTERVAL_S": "0.3",
        "HYPERLAW_WORKER_POLL_S": "0.2",
    }
    # Its own process group, so the whole worker (pool and run processes) can die at once.
    worker = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; main()", "worker", "--worker-id", "doomed"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait(lambda: len(_points(database, run_id)) >= 60, what="the run to train 60 steps")
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(30)
    before = dict(_points(database, run_id))
    run = _run(database, run_id)
    assert (run.status, run.worker_id, run.attempts) == ("running", "doomed", 1)

    rescuer = Settings(**{**settings.model_dump(), "heartbeat_timeout_s": 1.0, "heartbeat_interval_s": 0.2})
    time.sleep(1.2)  # the dead worker's heartbeat is now older than the timeout
    Pool(rescuer, concurrency=1, worker_id="rescuer").run(exit_when_idle=True)
    run = _run(database, run_id)
    assert (run.status, run.worker_id, run.attempts) == ("done", "rescuer", 2), run.error
    after = _points(database, run_id)
    assert [step for step, _ in after] == list(range(1, 401))
    assert dict(after)[1] == before[1]  # resumed from the checkpoint, not retrained from step 1


def test_cancel_stops_the_running_process(database, tmp_path):
    [run_id] = queue_runs(database, make_study(database), 1, **LONG)
    pool = Pool(worker_settings(database, tmp_path), concurrency=1, shutdown_grace_s=10)
    thread = threading.Thread(target=pool.run)
    thread.start()
    try:
        _wait(lambda: len(_points(database, run_id)) >= 20, what="the run to start writing its curve")
        with database.transaction() as session:
            runs.cancel_run(session=session, run_id=run_id)
        _wait(lambda: not pool.children, timeout=30, what="the pool to stop the cancelled run")
        count = len(_points(database, run_id))
        time.sleep(0.5)
        assert len(_points(database, run_id)) == count < 400
        assert _run(database, run_id).status == "cancelled"
    finally:
        pool.stop()
        thread.join(30)


@pytest.mark.parametrize(
    "gpus, expected",
    [([], [None, None, None]), (["0"], [None, None, None]), (["2", "3"], ["2", "3", "2"])],
)
def test_each_process_gets_one_gpu_when_there_are_several(gpus, expected):
    assert [gpu_for_slot(gpus, slot) for slot in range(3)] == expected


def test_a_run_for_a_device_this_machine_lacks_fails_once_saying_why(database, tmp_path):
    """A run that reached the queue asking for cuda (by the CLI, an older API, the database) fails at
    its first claim with one line, instead of three attempts of tracebacks."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device: the run would train")
    [run_id] = queue_runs(database, make_study(database), 1, device="cuda")
    Pool(worker_settings(database, tmp_path), concurrency=1).run(exit_when_idle=True)
    run = _run(database, run_id)
    assert run.status == "failed" and run.attempts == 1
    assert run.error.startswith("refused: device 'cuda' is not available on this machine"), run.error
