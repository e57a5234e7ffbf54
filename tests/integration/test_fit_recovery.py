"""Fits whose process died are recomputed: a fit queued past the grace period, or running past
the timeout, is taken by `fits.run_stale` (the API's and the pool's FitRecovery pass), at most
`max_attempts` times; fresh fits and live ones are left alone. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import update

from app import fits, runs, studies
from app.db.tables import Fit, utcnow


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


def _fit(database, study_id: int, *, age_s: float = 0.0, status: str = "queued", attempts: int = 0) -> int:
    with database.transaction() as session:
        fit_id = fits.create_fit(session=session, study_id=study_id, law="chinchilla", bootstrap=8, seed=0).id
        past = utcnow() - timedelta(seconds=age_s)
        values = {"created_at": past, "status": status, "attempts": attempts}
        if status == "running":
            values["started_at"] = past
        session.execute(update(Fit).where(Fit.id == fit_id).values(**values))
        return fit_id


def _get(database, fit_id: int) -> Fit:
    with database.transaction() as session:
        return fits.get_fit(session=session, fit_id=fit_id)


def _run_stale(database) -> dict[int, str]:
    return fits.run_stale(database, queued_grace_s=60, running_timeout_s=600, max_attempts=2)


def test_a_fit_never_started_is_computed_and_a_fresh_one_is_left_alone(database):
    study = _study_with_runs(database)
    orphan, fresh = _fit(database, study, age_s=120), _fit(database, study, age_s=1)
    assert _run_stale(database) == {orphan: "done"}
    done = _get(database, orphan)
    assert (done.status, done.attempts) == ("done", 1)
    assert done.params["alpha"] == pytest.approx(0.34, abs=0.02)
    assert _get(database, fresh).status == "queued"


def test_a_fit_whose_process_died_while_running_is_recomputed(database):
    study = _study_with_runs(database)
    dead, alive = (
        _fit(database, study, age_s=3600, status="running", attempts=1),
        _fit(database, study, age_s=10, status="running", attempts=1),
    )
    assert _run_stale(database) == {dead: "done"}
    recomputed = _get(database, dead)
    assert (recomputed.status, recomputed.attempts) == ("done", 2)
    assert recomputed.params["beta"] == pytest.approx(0.28, abs=0.02)
    assert _get(database, alive).status == "running"  # within its timeout: someone is computing it


def test_a_fit_that_keeps_losing_its_process_fails_with_the_reason(database):
    study = _study_with_runs(database)
    doomed = _fit(database, study, age_s=3600, status="running", attempts=2)
    assert _run_stale(database) == {}
    failed = _get(database, doomed)
    assert failed.status == "failed" and "stopped 2 time(s)" in failed.error
