"""A loss law describes each (N, D) at its best LR and batch: over a study that sweeps LR, a loss fit
takes by default the best setting of each (N, D) and says so; runs="all" fits every run, and the
off-optimum runs then pull E up. On real SQLite and PostgreSQL, through app/fits.py."""

from __future__ import annotations

import math

import pytest

from app import fits, runs, studies
from app.api.schemas import FitPublic
from app.db.tables import Fit
from app.errors import InvalidInput
from app.law_kinds.loss import envelope
from app.worker import queue
from tests.integration.helpers import make_study

E, LR_OPT = 1.7, 3e-3
# Loss above the envelope at LR x2^k: a bowl in log2 LR (+4% one octave off, +16% two octaves off).
OFF_OPTIMUM = {k: math.exp(0.04 * k * k) for k in (-2, -1, 0, 1, 2)}


def _truth(n_params: float, tokens: float) -> float:
    return E + 400 / n_params**0.34 + 410 / tokens**0.28


def _sweeps() -> list[dict[str, float]]:
    """A 4 x 3 (N, D) grid, each (N, D) an LR sweep of 5 runs with its optimum at LR_OPT."""
    return [
        {"n_params": n, "tokens": d, "lr": LR_OPT * 2.0**k, "loss": _truth(n, d) * factor}
        for n in (1e7, 3e7, 1e8, 3e8)
        for d in (1e9, 3e9, 1e10)
        for k, factor in OFF_OPTIMUM.items()
    ]


def _import(database, study_id, rows) -> list[int]:
    with database.transaction() as session:
        study = studies.get_study(session=session, study_id=study_id)
        return [r.id for r in runs.import_runs(session=session, study=study, rows=rows)]


def _fit(database, study_id, **options):
    with database.transaction() as session:
        fit_id = fits.create_fit(
            session=session, study_id=study_id, law="chinchilla", bootstrap=0, seed=0, **options
        ).id
        assert queue.claim(session=session, worker_id="w", jobs=Fit, job_id=fit_id)
    assert fits.run_fit(database, fit_id, worker_id="w") == "done"
    with database.transaction() as session:
        fit = fits.get_fit(session=session, fit_id=fit_id)
        return fit, FitPublic.of(fit)


def test_a_loss_fit_over_lr_sweeps_takes_each_sizes_best_run(database):
    study_id = make_study(database)
    ids = _import(database, study_id, _sweeps())
    best = [i for i, row in zip(ids, _sweeps(), strict=True) if row["lr"] == LR_OPT]

    fit, public = _fit(database, study_id)
    assert fit.run_ids == best and fit.n_points == 12
    assert fit.params["E"] == pytest.approx(E, rel=0.01)
    assert public.context == {"runs": "best_per_size", "left_out": 48, "sweeps": 0}
    assert any("best LR/batch setting of each (N, D): 12 runs; 48 runs" in w for w in public.warnings)

    every, public_all = _fit(database, study_id, runs="all")
    assert every.n_points == 60 and public_all.context["runs"] == "all"
    assert any('runs="all": 12 (N, D) hold several' in w for w in public_all.warnings)
    # The off-optimum runs lift the whole law (Huber on log loss follows the middle of each sweep).
    assert every.params["E"] > E * 1.02
    assert abs(every.params["E"] - E) > 5 * abs(fit.params["E"] - E)


def test_a_study_without_sweeps_is_fitted_whole_and_says_nothing(database):
    study_id = make_study(database)
    rows = [row for row in _sweeps() if row["lr"] == LR_OPT]
    _import(database, study_id, rows)
    fit, public = _fit(database, study_id)
    assert fit.n_points == 12 and public.context["left_out"] == 0
    assert not any("LR/batch setting" in w for w in public.warnings)


def test_the_runs_option_is_checked(database):
    study_id = make_study(database)
    _import(database, study_id, _sweeps())
    with database.transaction() as session:
        with pytest.raises(InvalidInput, match="runs must be best_per_size or all"):
            fits.create_fit(session=session, study_id=study_id, law="chinchilla", bootstrap=0, runs="best")
        with pytest.raises(InvalidInput, match="runs applies to"):
            fits.create_fit(session=session, study_id=study_id, law="lr_opt", bootstrap=0, runs="all")


def test_the_envelope_keeps_replicates_of_the_best_setting():
    """Seeds of one setting are kept together (the best of several seeds would bias the law low); a
    cell whose runs share one setting is no sweep; sizes within 0.1% are one (N, D)."""
    n_params = [1e8, 1e8, 1e8, 1e8, 1.00004e8, 2e8, 2e8]
    tokens = [1e10, 1e10, 1e10, 1e10, 1.0003e10, 1e10, 1e10]
    losses = [3.00, 3.02, 2.95, 3.10, 3.06, 2.90, 2.93]
    settings = [("a", 1), ("a", 1), ("b", 1), ("b", 1), ("c", 2), ("a", 1), ("a", 1)]
    chosen = envelope(n_params, tokens, losses, settings)
    # Cell 1e8: setting a has mean 3.01, b 3.025, c 3.06: a wins with both of its seeds.
    assert chosen.kept == [0, 1, 5, 6] and chosen.left_out == [2, 3, 4] and chosen.sweeps == 1


@pytest.fixture(scope="module")
def server(db_url):
    from app.settings import Settings
    from tests.integration.server import ServerThread

    with ServerThread(Settings(database_url=db_url, fit_inline_max_bootstrap=10)) as running:
        yield running


def test_the_api_and_the_cli_take_the_runs_choice(server, database):
    """POST /v1/studies/{id}/fits with "runs": "all" and `hyperlaw fits create --all-runs` fit every
    run; without them the envelope; an unknown choice is a 422 naming the field."""
    from typer.testing import CliRunner

    from app.cli import cli
    from tests.integration.server import write_client

    study_id = make_study(database)
    _import(database, study_id, _sweeps())
    with write_client(server, database, timeout=120) as api:
        url = f"/v1/studies/{study_id}/fits"
        bad = api.post(url, json={"law": "chinchilla", "bootstrap": 0, "runs": "best"})
        assert bad.status_code == 422 and "runs" in bad.text
        fit_ids = {}
        for choice in ("all", None):
            created = api.post(url, json={"law": "chinchilla", "bootstrap": 0, "runs": choice})
            assert created.status_code == 201, created.text
            fit_ids[choice] = created.json()["id"]
        every = api.get(f"/v1/fits/{fit_ids['all']}").json()
        envelope_fit = api.get(f"/v1/fits/{fit_ids[None]}").json()
        assert (every["n_points"], every["context"]["runs"]) == (60, "all")
        assert (envelope_fit["n_points"], envelope_fit["context"]["runs"]) == (12, "best_per_size")
        token = api.headers["Authorization"].split()[1]
    result = CliRunner().invoke(
        cli,
        ["fits", "create", str(study_id), "--bootstrap", "0", "--all-runs", "--json"]
        + ["--url", server.url, "--token", token],
    )
    assert result.exit_code == 0, result.output
    assert '"n_points": 60' in result.output
