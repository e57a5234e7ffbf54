"""The stale-fit warning of /v1/predict on SQLite and PostgreSQL: only runs the fit's law would use
now make a fit stale (finished, with a loss, and chosen by its kind: failed, cancelled, queued or
diverged runs never do, nor a run the loss law's best-per-size envelope leaves out), and the
warning says how many of those runs the fit rests on."""

from __future__ import annotations

from app import fits, predictions, runs, studies
from app.db.tables import Run, utcnow
from tests.integration.helpers import make_study, queue_runs


def _row(n_params: float, tokens: float, lr: float = 3e-3, excess: float = 0.0) -> dict:
    # L = 1.7 + 400/N^0.34 + 410/D^0.28, plus `excess` at another LR than the grid's.
    loss = 1.7 + 400 / n_params**0.34 + 410 / tokens**0.28 + excess
    return {"n_params": n_params, "tokens": tokens, "lr": lr, "loss": loss}


def _import(database, study_id: int, rows: list[dict]) -> None:
    with database.transaction() as session:
        runs.import_runs(
            session=session, study=studies.get_study(session=session, study_id=study_id), rows=rows
        )


def _stale(database, study_id: int, fit_id: int) -> list[str]:
    with database.transaction(immediate=False) as session:
        return predictions.stale_warnings(session=session, study_id=study_id, fit_ids={"loss": fit_id})


def test_only_runs_the_fit_would_use_make_it_stale(database):
    study = make_study(database, "grid")
    _import(database, study, [_row(n, d) for n in (1e7, 3e7, 1e8, 3e8) for d in (1e9, 3e9, 1e10)])
    with database.transaction() as session:
        fit = fits.create_fit(session=session, study_id=study, law="chinchilla", bootstrap=0)
        fit_id = fit.id
        assert len(fit.run_ids) == 12
    assert _stale(database, study, fit_id) == []

    # Runs that end without a usable loss: failed, cancelled, diverged, and one still queued.
    failed, cancelled, diverged, _queued, done = queue_runs(database, study, 5)
    with database.transaction() as session:
        for run_id, status in ((failed, "failed"), (cancelled, "cancelled"), (diverged, "diverged")):
            run = session.get(Run, run_id)
            run.status, run.finished_at = status, utcnow()
        session.get(Run, diverged).loss = 9.5
    # A run at a size the fit has, with a worse loss: the best-per-size envelope leaves it out.
    _import(database, study, [_row(1e8, 3e9, lr=1e-2, excess=0.2)])
    assert _stale(database, study, fit_id) == []

    # A finished run the law would use: the fit is stale, and says by how much.
    with database.transaction() as session:
        run = session.get(Run, done)
        run.status, run.loss, run.finished_at = "done", 6.0, utcnow()
    [warning] = _stale(database, study, fit_id)
    assert warning.startswith(
        f"stale fit: the loss fit {fit_id} rests on 12 of the 13 runs a chinchilla fit would use now (1 not in it)"
    )
    assert warning.endswith(f'POST /v1/studies/{study}/fits {{"law": "chinchilla", "runs": "best_per_size"}}')

    # A better run at a size the fit has replaces the one the fit used there.
    _import(database, study, [_row(n, 1e11) for n in (1e7, 3e7)] + [_row(1e7, 1e9, lr=1e-3, excess=-0.1)])
    [warning] = _stale(database, study, fit_id)
    assert "rests on 11 of the 15 runs a chinchilla fit would use now (4 not in it)" in warning


def test_a_fit_on_chosen_runs_is_never_stale(database):
    study = make_study(database, "chosen")
    _import(database, study, [_row(n, d) for n in (1e7, 3e7, 1e8, 3e8) for d in (1e9, 3e9, 1e10)])
    with database.transaction() as session:
        ids = [run.id for run in runs.fittable_runs(session=session, study_id=study)]
        fit_id = fits.create_fit(
            session=session, study_id=study, law="chinchilla", bootstrap=0, run_ids=ids
        ).id
    _import(database, study, [_row(1e9, 1e10)])
    assert _stale(database, study, fit_id) == []


def test_the_selection_runs_again_only_when_another_run_finishes(database, monkeypatch):
    """The selection reads every run of the study: with the predict route's memo it runs once per new
    finished run, not on every cache miss, and its verdict stays the same."""
    study = make_study(database, "memo")
    _import(database, study, [_row(n, d) for n in (1e7, 3e7, 1e8, 3e8) for d in (1e9, 3e9, 1e10)])
    with database.transaction() as session:
        fit_id = fits.create_fit(session=session, study_id=study, law="chinchilla", bootstrap=0).id
    kind = fits.kind_of("chinchilla")
    original, calls = type(kind).select, []

    def counted(self, **kwargs):
        calls.append(1)
        return original(self, **kwargs)

    monkeypatch.setattr(type(kind), "select", counted)
    memo: dict = {}

    def stale() -> list[str]:
        with database.transaction(immediate=False) as session:
            return predictions.stale_warnings(
                session=session, study_id=study, fit_ids={"loss": fit_id}, memo=memo
            )

    _import(database, study, [_row(1e9, 1e10)])
    first = stale()
    assert len(first) == 1 and "rests on 12 of the 13 runs" in first[0] and len(calls) == 1
    assert stale() == first and stale() == first and len(calls) == 1  # nothing finished since: no selection
    _import(database, study, [_row(1e9, 3e10)])
    again = stale()
    assert len(again) == 1 and "rests on 12 of the 14 runs" in again[0] and len(calls) == 2
