"""Fits on real SQLite and PostgreSQL: the snapshot a fit is made on, the minimum number of
runs, a fit job that fails ends `failed` with the message, and a fit is claimed only once."""

from __future__ import annotations

import pytest

from app import fits, runs, studies
from app.db.tables import Fit
from app.errors import InvalidInput
from app.worker import queue
from tests.integration.helpers import make_study


def _import(database, study_id, rows):
    with database.transaction() as session:
        study = studies.get_study(session=session, study_id=study_id)
        return [r.id for r in runs.import_runs(session=session, study=study, rows=rows)]


def _grid():
    # L = 1.7 + 400/N^0.34 + 410/D^0.28 on a 4 x 3 grid, no noise.
    return [
        {"n_params": n, "tokens": d, "loss": 1.7 + 400 / n**0.34 + 410 / d**0.28}
        for n in (1e7, 3e7, 1e8, 3e8)
        for d in (1e9, 3e9, 1e10)
    ]


def test_a_fit_is_made_once_on_its_snapshot(database):
    study_id = make_study(database)
    ids = _import(database, study_id, _grid())
    with database.transaction() as session:
        fit_id = fits.create_fit(session=session, study_id=study_id, law="chinchilla", bootstrap=5, seed=0).id
    _import(database, study_id, [{"n_params": 1e9, "tokens": 1e11, "loss": 9.9}])  # after the snapshot
    with database.transaction() as session:
        assert queue.claim(session=session, worker_id="w", jobs=Fit, job_id=fit_id)
        assert not queue.claim(session=session, worker_id="other", jobs=Fit, job_id=fit_id)  # already running
    assert fits.run_fit(database, fit_id, worker_id="w") == "done"
    with database.transaction() as session:
        fit = fits.get_fit(session=session, fit_id=fit_id)
        assert fit.run_ids == ids and fit.n_points == 12
        assert fit.params["E"] == pytest.approx(1.7, rel=0.05)
        assert fits.latest_fit(session=session, study_id=study_id).id == fit_id


def test_too_few_runs_and_a_failing_fit(database):
    study_id = make_study(database)
    _import(database, study_id, _grid()[:3])
    with database.transaction() as session, pytest.raises(InvalidInput, match="4 more needed"):
        fits.create_fit(session=session, study_id=study_id, law="chinchilla", bootstrap=0)
    _import(database, study_id, [{"n_params": 1e6 * (i + 1), "tokens": 1e8, "loss": 3.0} for i in range(3)])
    with database.transaction() as session:
        fit_id = fits.create_fit(session=session, study_id=study_id, law="power", bootstrap=0).id
        fits.get_fit(session=session, fit_id=fit_id).law = "no-such-law"  # no law kind knows it
        queue.claim(session=session, worker_id="w", jobs=Fit, job_id=fit_id)
    assert fits.run_fit(database, fit_id, worker_id="w") == "failed"
    with database.transaction() as session:
        fit = fits.get_fit(session=session, fit_id=fit_id)
        assert fit.status == "failed" and "no-such-law" in fit.error
        assert fits.latest_fit(session=session, study_id=study_id) is None


def test_hyperparameter_laws_say_what_is_missing_and_latest_ids_group_by_kind(database):
    study_id = make_study(database)
    # One LR sweep of 8 runs at one (N, D): lr_opt needs four such sweeps.
    _import(
        database,
        study_id,
        [
            {
                "n_params": 1e8,
                "tokens": 2e9,
                "loss": 3.0 + 0.01 * (i - 4) ** 2,
                "lr": 1e-3 * 2**i,
                "batch_tokens": 2**18,
            }
            for i in range(8)
        ],
    )
    with database.transaction() as session:
        with pytest.raises(
            InvalidInput, match=r"lr_opt \(auto\) needs >=4 \(N, D\) sweeps .* this study has 1"
        ):
            fits.create_fit(session=session, study_id=study_id, law="lr_opt", bootstrap=0)
        with pytest.raises(InvalidInput, match="form 'cubic' is unknown"):
            fits.create_fit(session=session, study_id=study_id, law="batch_opt", bootstrap=0, form="cubic")
        with pytest.raises(InvalidInput, match=r"critical_batch needs .* this study has 0 batch size"):
            fits.create_fit(session=session, study_id=study_id, law="critical_batch", bootstrap=0)
    _import(database, study_id, _grid())
    with database.transaction() as session:
        first = fits.create_fit(session=session, study_id=study_id, law="chinchilla", bootstrap=0).id
        second = fits.create_fit(session=session, study_id=study_id, law="power", bootstrap=0).id
    for fit_id in (first, second):
        with database.transaction() as session:
            queue.claim(session=session, worker_id="w", jobs=Fit, job_id=fit_id)
        assert fits.run_fit(database, fit_id, worker_id="w") == "done"
    with database.transaction() as session:
        assert fits.latest_fit_ids(session=session, study_id=study_id) == {"loss": second}
        assert fits.latest_fit_ids(session=session, study_id=study_id, loss_law="chinchilla") == {
            "loss": first
        }
