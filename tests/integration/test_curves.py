"""Curve points on real SQLite and PostgreSQL: batched upserts, so a retried or resumed
write never duplicates or drops a point."""

from __future__ import annotations

import pytest

from app import curves
from tests.integration.helpers import make_study, queue_runs


def _points(steps, loss=3.0):
    return [
        {
            "step": s,
            "tokens": 256.0 * s,
            "train_loss": loss - s * 1e-3,
            "eval_loss": None,
            "lr": 1e-3,
            "noise_scale": None,
            "wall_time": 0.01 * s,
        }
        for s in steps
    ]


def test_retried_overlapping_batches_neither_duplicate_nor_drop(database):
    [run_id] = queue_runs(database, make_study(database), 1)
    with database.transaction() as session:
        curves.write_points(session=session, run_id=run_id, points=_points(range(0, 100)))
    # The worker resumed from a checkpoint at step 50 and writes 50..149 again.
    with database.transaction() as session:
        curves.write_points(session=session, run_id=run_id, points=_points(range(50, 150), loss=2.0))
    with database.transaction() as session:
        points = curves.get_curve(session=session, run_id=run_id)
    assert [p.step for p in points] == list(range(150))
    assert points[49].train_loss == pytest.approx(3.0 - 0.049)
    assert points[50].train_loss == pytest.approx(2.0 - 0.050)  # the later write wins


def test_a_rolled_back_batch_is_rewritten_whole(database):
    [run_id] = queue_runs(database, make_study(database), 1)
    with pytest.raises(RuntimeError), database.transaction() as session:
        curves.write_points(session=session, run_id=run_id, points=_points(range(10)))
        raise RuntimeError("connection lost mid-commit")
    with database.transaction() as session:
        assert curves.count_points(session=session, run_ids=[run_id]) == 0
    for _ in range(2):  # the retry, twice
        with database.transaction() as session:
            curves.write_points(session=session, run_id=run_id, points=_points(range(10)))
    with database.transaction() as session:
        assert curves.count_points(session=session, run_ids=[run_id]) == 10


def test_duplicate_steps_in_one_batch_and_large_batches(database):
    [run_id] = queue_runs(database, make_study(database), 1)
    batch = _points(range(5000)) + _points([7], loss=9.0)
    with database.transaction() as session:
        assert curves.write_points(session=session, run_id=run_id, points=batch) == 5000
    with database.transaction() as session:
        assert curves.count_points(session=session, run_ids=[run_id]) == 5000
        assert curves.last_point(session=session, run_id=run_id).step == 4999
        assert curves.get_curve(session=session, run_id=run_id)[7].train_loss == pytest.approx(9.0 - 0.007)
