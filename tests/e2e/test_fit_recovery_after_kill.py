"""A background fit survives the death of the API process computing it: `hyperlaw serve` is
killed (SIGKILL) mid-fit, a new server starts, and its fit worker finds the fit `running` with a
stale heartbeat, requeues it through the job queue's lease and computes it to the same parameters. SQLite (the queue is the same on
PostgreSQL; tests/integration/test_fit_recovery.py covers both engines)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.server import serve_subprocess

CLI = [sys.executable, "-c", "from app.cli import main; main()"]
CHINCHILLA = (
    Path(__file__).resolve().parents[2] / "app" / "data" / "chinchilla_epoch" / "chinchilla_fig4_points.csv"
)


def _epoch_rows() -> bytes:
    """The 240 points of Epoch AI's refit: the 5 rows it excludes as outliers left out."""
    header, *rows = CHINCHILLA.read_text().splitlines()
    assert header.endswith(",epoch_outlier_excluded")
    return "\n".join([header, *(row for row in rows if row.endswith(",0"))]).encode()


def _serve(env: dict[str, str], db_url: str) -> tuple[subprocess.Popen, httpx.Client]:
    return serve_subprocess(CLI, ["--database-url", db_url, "--log-level", "warning"], env, env["TOKEN"])


def _wait_status(client: httpx.Client, fit_id: int, wanted: set[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fit = client.get(f"/v1/fits/{fit_id}").json()
        if fit["status"] in wanted:
            return fit
        time.sleep(0.05)
    raise AssertionError(f"fit {fit_id} never reached {wanted}: last {fit['status']}")


@pytest.mark.slow
@pytest.mark.data
def test_a_fit_whose_server_was_killed_is_finished_by_the_next_server(tmp_path):
    db_url = f"sqlite:///{tmp_path}/hyperlaw.db"
    env = {**os.environ, "HYPERLAW_DATABASE_URL": db_url, "HYPERLAW_FIT_INLINE_MAX_BOOTSTRAP": "10"}
    subprocess.run([*CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
    created = subprocess.run(
        [*CLI, "token", "create", "--scope", "write"], env=env, capture_output=True, text=True
    )
    env["TOKEN"] = created.stdout.strip()

    first, client = _serve(env, db_url)
    try:
        study = client.post("/v1/studies", json={"name": "chinchilla"}).json()["id"]
        imported = client.post(
            f"/v1/studies/{study}/import",
            params={"n_col": "N_params", "d_col": "D_tokens", "loss_col": "loss"},
            content=_epoch_rows(),
            headers={"Content-Type": "text/csv"},
        )
        assert imported.status_code == 201 and imported.json()["count"] == 240, imported.text
        accepted = client.post(
            f"/v1/studies/{study}/fits", json={"law": "chinchilla", "bootstrap": 3000, "seed": 0}
        )
        assert accepted.status_code == 202, accepted.text
        fit_id = accepted.json()["id"]
        _wait_status(client, fit_id, {"running"}, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
        client.close()

    # The next server presumes a fit silent for 1 s lost (the queue's heartbeat timeout, as for runs).
    env.update(
        {
            "HYPERLAW_HEARTBEAT_TIMEOUT_S": "1",
            "HYPERLAW_HEARTBEAT_INTERVAL_S": "0.3",
            "HYPERLAW_WORKER_POLL_S": "0.2",
        }
    )
    second, client = _serve(env, db_url)
    try:
        assert (
            client.get(f"/v1/fits/{fit_id}").json()["status"] == "running"
        )  # left behind by the dead process
        fit = _wait_status(client, fit_id, {"done", "failed"}, timeout=240)
        assert fit["status"] == "done", fit["error"]
        # Epoch AI's refit of Hoffmann et al.'s points: alpha 0.3478, beta 0.3658 (SOURCE.md).
        assert fit["params"]["alpha"] == pytest.approx(0.347, abs=0.005)
        assert fit["params"]["beta"] == pytest.approx(0.367, abs=0.005)
        assert fit["n_bootstrap"] == 3000
        prediction = client.get("/v1/predict", params={"study": study, "n_params": 7e10, "tokens": 1.4e12})
        assert prediction.status_code == 200 and prediction.json()["fit_ids"]["loss"] == fit_id
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
        client.close()
