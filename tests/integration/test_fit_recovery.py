"""Fits are jobs of the queue runs use, on SQLite and PostgreSQL: a queued fit is claimed and
computed by a fit worker; a fit whose holder stopped heartbeating is requeued and recomputed by
another, at most `max_attempts` claims; a fit whose heartbeat is fresh is left alone; a holder that
lost its lease cannot overwrite the new holder's result."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import update

from app import fits, runs, studies
from app.db.tables import Fit, utcnow
from app.settings import Settings
from app.worker import fit_jobs


def _study_with_runs(database) -> int:
    """A study of 12 imported runs on L = 1.7 + 400/N^0.34 + 1000/D^0.28."""
    n, d = np.meshgrid([1e7, 3e7, 1e8, 3e8], [2e8, 1e9, 5e9])
    loss = 1.7 + 400 / n**0.34 + 1000 / d**0.28
    with database.transaction() as session:
        study = studies.create_study(session=session, name="recovery")
        rows = [
            {"n_params": a, "tokens": b, "loss": c}
            for a, b, c in zip(n.ravel(), d.ravel(), loss.ravel(), strict=True)
        ]
        runs.import_runs(session=session, study=study, rows=rows)
        return study.id


def _fit(
    database, study_id: int, *, beat_age_s: float = 0.0, status: str = "queued", attempts: int = 0
) -> int:
    with database.transaction() as session:
        fit_id = fits.create_fit(session=session, study_id=study_id, law="chinchilla", bootstrap=8, seed=0).id
        if status == "running":
            past = utcnow() - timedelta(seconds=beat_age_s)
            values = {"status": status, "attempts": attempts, "started_at": past, "heartbeat_at": past}
            session.execute(update(Fit).where(Fit.id == fit_id).values(worker_id="gone:1", **values))
        return fit_id


def _get(database, fit_id: int) -> Fit:
    with database.transaction() as session:
        return fits.get_fit(session=session, fit_id=fit_id)


def _worker(database) -> fit_jobs.FitWorker:
    settings = Settings(
        database_url=database.url, heartbeat_interval_s=0.2, heartbeat_timeout_s=600, max_attempts=2
    )
    return fit_jobs.FitWorker(database, settings, worker_id="test-fits")


def test_a_queued_fit_is_computed_by_a_fit_worker(database):
    study = _study_with_runs(database)
    queued = _fit(database, study)
    worker = _worker(database)
    assert worker.run_once() == (queued, "done")
    done = _get(database, queued)
    assert (done.status, done.attempts, done.worker_id) == ("done", 1, "test-fits")
    assert done.params["alpha"] == pytest.approx(0.34, abs=0.02)
    assert worker.run_once() is None  # nothing left to claim


def test_a_fit_whose_process_died_while_running_is_recomputed(database):
    study = _study_with_runs(database)
    dead = _fit(database, study, beat_age_s=3600, status="running", attempts=1)
    alive = _fit(database, study, beat_age_s=10, status="running", attempts=1)
    assert _worker(database).run_once() == (dead, "done")
    recomputed = _get(database, dead)
    assert (recomputed.status, recomputed.attempts) == ("done", 2)
    assert recomputed.params["beta"] == pytest.approx(0.28, abs=0.02)
    assert _get(database, alive).status == "running"  # its heartbeat is fresh: someone is computing it


def test_a_fit_that_keeps_losing_its_process_fails_with_the_reason(database):
    study = _study_with_runs(database)
    doomed = _fit(database, study, beat_age_s=3600, status="running", attempts=2)
    assert _worker(database).run_once() is None
    failed = _get(database, doomed)
    assert failed.status == "failed" and "stopped heartbeating (attempt 2 of 2)" in failed.error


def test_a_holder_that_lost_its_lease_cannot_store_its_result(database):
    study = _study_with_runs(database)
    with database.transaction() as session:
        fit_id = fits.create_fit(session=session, study_id=study, law="chinchilla", bootstrap=0).id
        first = fit_jobs.hold(session=session, fit_id=fit_id)
    with database.transaction() as session:  # the first holder's heartbeat went stale: requeued
        session.execute(update(Fit).where(Fit.id == fit_id).values(status="queued", worker_id=None))
    second = _worker(database)
    assert second.run_once() == (fit_id, "done")
    assert fits.run_fit(database, fit_id, worker_id=first) == "done"  # the row's status, not its own
    stored = _get(database, fit_id)
    assert stored.worker_id == "test-fits" and stored.attempts == 2
