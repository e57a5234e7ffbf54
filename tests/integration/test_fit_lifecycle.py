"""A fit's lifecycle, on SQLite and PostgreSQL: it reports its progress (GET /v1/fits/{id}), can be
cancelled while queued or running (POST /v1/fits/{id}/cancel; a done fit is a 409), fails past the
time limit saying how many replicates would fit, and never holds up a server's shutdown: SIGTERM to
`hyperlaw serve` mid-fit exits within seconds and puts the fit back in the queue, where the next
server's fit worker computes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest

import fitting
from app import fits, runs, studies
from app.settings import Settings
from app.worker import fit_jobs
from fitting import bootstrap as bootstrap_module
from tests.integration.server import ServerThread, serve_subprocess, write_client

# A fit of 36 noisy runs: 100 bootstrap replicates take a few hundredths of a second, so 100,000
# (the schema's maximum) run for a minute or more while 20,000 take some ten seconds.
LONG = 100_000
MEDIUM = 20_000
# The fit a server is stopped in the middle of: 50 batches of 100 replicates (some 2 s on a busy core),
# many times the tenth of a second between its first progress and the SIGTERM, and the next server
# computes it whole, so no more than that.
INTERRUPTED = 5_000
CLI = [sys.executable, "-c", "from app.cli import main; main()"]


def _rows() -> list[dict[str, float]]:
    rng = np.random.default_rng(0)
    n, d = np.meshgrid(np.geomspace(1e7, 1e9, 6), np.geomspace(2e8, 2e10, 6))
    loss = (1.7 + 400 / n**0.34 + 1000 / d**0.28) * np.exp(rng.normal(0, 0.02, n.shape))
    return [
        {"n_params": float(a), "tokens": float(b), "loss": float(c)}
        for a, b, c in zip(n.ravel(), d.ravel(), loss.ravel(), strict=True)
    ]


def _study(database) -> int:
    with database.transaction() as session:
        study = studies.create_study(session=session, name="lifecycle")
        runs.import_runs(session=session, study=study, rows=_rows())
        return study.id


def _wait(client: httpx.Client, fit_id: int, until, timeout: float = 120) -> dict:
    """Poll the fit until `until(fit)` holds; the fit, or AssertionError with its last state."""
    deadline = time.monotonic() + timeout
    while True:
        fit = client.get(f"/v1/fits/{fit_id}").json()
        if until(fit):
            return fit
        assert time.monotonic() < deadline, f"fit {fit_id} never got there: {fit}"
        time.sleep(0.05)


# ------------------------------------------------------------------ fitting: batches and progress


def test_the_bootstrap_in_batches_gives_the_numbers_of_one_batch_and_reports_progress(monkeypatch):
    rows = _rows()
    data = {
        "loss": [r["loss"] for r in rows],
        "N": [r["n_params"] for r in rows],
        "D": [r["tokens"] for r in rows],
    }
    reports: list[tuple[int, int]] = []
    batched = fitting.fit("chinchilla", bootstrap=250, seed=3, progress=lambda *a: reports.append(a), **data)
    assert reports == [(100, 250), (200, 250), (250, 250)]
    monkeypatch.setattr(bootstrap_module, "SOLVE_BATCH", 10_000)
    whole = fitting.fit("chinchilla", bootstrap=250, seed=3, **data)
    np.testing.assert_array_equal(batched.draws, whole.draws)
    assert batched.n_failed_replicates == whole.n_failed_replicates

    class Stop(Exception):
        pass

    def stop(done: int, total: int) -> None:
        raise Stop

    with pytest.raises(Stop):
        fitting.fit("chinchilla", bootstrap=250, seed=3, progress=stop, **data)


# ------------------------------------------------------------------ over HTTP


@pytest.fixture
def server(database):
    settings = Settings(database_url=database.url, heartbeat_interval_s=0.5, worker_poll_s=0.1)
    with ServerThread(settings) as running:
        yield running


def test_a_fit_reports_progress_that_rises_to_one(server, database):
    study = _study(database)
    with write_client(server, database) as api:
        created = api.post(f"/v1/studies/{study}/fits", json={"law": "chinchilla", "bootstrap": MEDIUM // 4})
        assert created.status_code == 202, created.text
        fit_id = created.json()["id"]
        seen = []
        fit = _wait(api, fit_id, lambda f: seen.append(f["progress"]) or f["status"] in ("done", "failed"))
    assert fit["status"] == "done", fit["error"]
    assert (fit["progress"], fit["replicates_done"]) == (1.0, MEDIUM // 4)
    assert seen == sorted(seen), "progress went down"
    assert any(0 < p < 1 for p in seen), f"no progress shown between start and end: {sorted(set(seen))}"


def test_cancelling_a_running_fit_stops_its_worker(server, database):
    study = _study(database)
    with write_client(server, database) as api:
        fit_id = api.post(f"/v1/studies/{study}/fits", json={"law": "chinchilla", "bootstrap": LONG}).json()[
            "id"
        ]
        _wait(api, fit_id, lambda f: f["status"] == "running" and f["replicates_done"] > 0)
        cancelled = api.post(f"/v1/fits/{fit_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert "cancelled while running" in cancelled.json()["error"]
        # The worker notices at its next batch and takes the next fit: a queued one is computed.
        after = api.post(f"/v1/studies/{study}/fits", json={"law": "chinchilla", "bootstrap": 200, "seed": 1})
        next_id = after.json()["id"]
        if after.status_code == 202:
            _wait(api, next_id, lambda f: f["status"] == "done", timeout=30)
        stopped = api.get(f"/v1/fits/{fit_id}").json()
        assert stopped["status"] == "cancelled" and stopped["replicates_done"] < LONG
        time.sleep(1.0)
        assert api.get(f"/v1/fits/{fit_id}").json()["replicates_done"] == stopped["replicates_done"]
        again = api.post(f"/v1/fits/{fit_id}/cancel")  # cancelling twice changes nothing
        assert again.status_code == 200 and again.json()["finished_at"] == stopped["finished_at"]
        reader = {"Authorization": f"Bearer {api.read_token}"}
        assert api.post(f"/v1/fits/{fit_id}/cancel", headers=reader).status_code == 403


def test_a_done_fit_cannot_be_cancelled(server, database):
    study = _study(database)
    with write_client(server, database) as api:
        done = api.post(f"/v1/studies/{study}/fits", json={"law": "chinchilla", "bootstrap": 20})
        assert done.status_code == 201, done.text
        refused = api.post(f"/v1/fits/{done.json()['id']}/cancel")
        assert refused.status_code == 409
        assert "already done" in refused.json()["detail"]
        assert api.post("/v1/fits/999999/cancel").status_code == 404


def test_a_queued_fit_cancelled_is_never_computed(database):
    study = _study(database)
    with database.transaction() as session:
        fit_id = fits.create_fit(session=session, study_id=study, law="chinchilla", bootstrap=50).id
    with database.transaction() as session:
        assert fits.cancel_fit(session=session, fit_id=fit_id).status == "cancelled"
    worker = fit_jobs.FitWorker(database, Settings(database_url=database.url), worker_id="test-fits")
    assert worker.run_once() is None
    with database.transaction() as session:
        fit = fits.get_fit(session=session, fit_id=fit_id)
        assert (fit.status, fit.attempts, fit.replicates_done) == ("cancelled", 0, 0)
        assert "cancelled while queued" in fit.error


def test_other_writers_proceed_while_a_fit_reads_its_runs(database, monkeypatch):
    """A fit reads its runs without the write lock: on SQLite a write transaction held through the read
    (a minute at 10^6 runs) blocked every worker's curve writes and the fit's own heartbeat. Here a
    write from another connection during the load must commit at once."""
    study = _study(database)
    with database.transaction() as session:
        fit_id = fits.create_fit(session=session, study_id=study, law="chinchilla", bootstrap=10).id
    kind = fits.kind_of("chinchilla")
    original = type(kind).load
    written: list[float] = []

    def load_then_write(self, **kwargs):
        data = original(self, **kwargs)
        started = time.monotonic()
        with database.transaction() as session:  # another connection, asking for the write lock
            studies.create_study(session=session, name="written-during-the-load")
        written.append(time.monotonic() - started)
        return data

    monkeypatch.setattr(type(kind), "load", load_then_write)
    outcome = fit_jobs.FitWorker(
        database, Settings(database_url=database.url), worker_id="test-fits"
    ).run_once()
    assert outcome == (fit_id, "done")
    assert len(written) == 1 and written[0] < 1.0, written


def test_a_fit_past_the_time_limit_fails_saying_how_to_ask_for_less(database):
    study = _study(database)
    with database.transaction() as session:
        fit_id = fits.create_fit(session=session, study_id=study, law="chinchilla", bootstrap=LONG).id
    settings = Settings(database_url=database.url, fit_time_limit_s=1.0)
    started = time.monotonic()
    outcome = fit_jobs.FitWorker(database, settings, worker_id="test-fits").run_once()
    assert outcome == (fit_id, "failed")
    assert time.monotonic() - started < 30
    with database.transaction() as session:
        fit = fits.get_fit(session=session, fit_id=fit_id)
    assert "time limit of 1 s (HYPERLAW_FIT_TIME_LIMIT_S)" in fit.error
    assert f"of {LONG} bootstrap replicates done" in fit.error
    assert "ask for fewer bootstrap replicates (bootstrap=" in fit.error
    assert 0 < fit.replicates_done < LONG


def test_fits_cancel_on_the_command_line(database):
    """In this process (CliRunner): starting a Python for each command would cost seconds of imports."""
    from typer.testing import CliRunner

    from app.cli import cli

    study = _study(database)
    with database.transaction() as session:
        fit_id = fits.create_fit(session=session, study_id=study, law="chinchilla", bootstrap=50).id
    command = ["fits", "cancel", "--database-url", database.url, str(fit_id)]
    first = CliRunner().invoke(cli, command)
    assert first.exit_code == 0, first.output
    assert f"fit {fit_id} cancelled" in first.stdout
    with database.transaction() as session:
        fits.get_fit(session=session, fit_id=fit_id).status = "done"
    refused = CliRunner().invoke(cli, command)
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert refused.stderr.strip().splitlines() == [
        f"error: fit {fit_id} is already done: only a queued or running fit can be cancelled"
    ]


# ------------------------------------------------------------------ shutdown of a real server


def _serve(db_url: str, token: str, **env: str) -> tuple[subprocess.Popen, httpx.Client]:
    return serve_subprocess(
        CLI,
        ["--database-url", db_url, "--log-level", "warning"],
        {**os.environ, "HYPERLAW_HEARTBEAT_INTERVAL_S": "0.5", "HYPERLAW_WORKER_POLL_S": "0.2", **env},
        token,
        client_timeout=120,
    )


def _terminate(server: subprocess.Popen, within: float) -> float:
    """SIGTERM the server; the seconds it took to exit (AssertionError if more than `within`)."""
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=within)
    except subprocess.TimeoutExpired:
        server.kill()
        raise AssertionError(f"the server was still up {within} s after SIGTERM") from None
    return time.monotonic() - started


@pytest.mark.slow
@pytest.mark.parametrize("inline", [False, True], ids=["background", "inline"])
def test_sigterm_mid_fit_exits_at_once_and_the_next_server_finishes_the_fit(database, inline):
    from app import tokens

    study = _study(database)
    with database.transaction() as session:
        token, _ = tokens.create_token(session=session, scope="write")
    # Inline: this server computes fits of up to LONG replicates inside the request.
    first, api = _serve(database.url, token, HYPERLAW_FIT_INLINE_MAX_BOOTSTRAP=str(LONG if inline else 10))
    answers: list[httpx.Response] = []
    try:
        body = {"law": "chinchilla", "bootstrap": INTERRUPTED}
        if inline:
            poster = threading.Thread(
                target=lambda: answers.append(api.post(f"/v1/studies/{study}/fits", json=body))
            )
            poster.start()
            fit_id = None
            deadline = time.monotonic() + 60
            while fit_id is None:
                assert time.monotonic() < deadline, "the inline fit never started"
                listed = api.get(f"/v1/studies/{study}/fits").json()["items"]
                fit_id = listed[0]["id"] if listed else None
                time.sleep(0.05)
        else:
            created = api.post(f"/v1/studies/{study}/fits", json=body)
            assert created.status_code == 202, created.text
            fit_id = created.json()["id"]
        _wait(api, fit_id, lambda f: f["status"] == "running" and f["replicates_done"] > 0)
        took = _terminate(first, within=15)
    finally:
        if first.poll() is None:
            first.kill()
    assert took < 15
    if inline:
        poster.join(10)
        assert [a.status_code for a in answers] == [202]  # queued again, not lost
        assert answers[0].json()["id"] == fit_id
    with database.transaction() as session:
        fit = fits.get_fit(session=session, fit_id=fit_id)
        assert (fit.status, fit.worker_id, fit.attempts, fit.replicates_done) == ("queued", None, 0, 0)
    second, api = _serve(database.url, token)
    try:
        done = _wait(api, fit_id, lambda f: f["status"] in ("done", "failed"), timeout=300)
        assert done["status"] == "done", done["error"]
        assert (done["progress"], done["replicates_done"]) == (1.0, INTERRUPTED)
    finally:
        _terminate(second, within=30)
