"""Requests/s of GET /v1/predict against a bare FastAPI route returning a constant.

Both apps are served by uvicorn in their own subprocess with the same settings and hit by
the same keep-alive httpx client, alternating rounds; the ratio is of the best rounds.
The study holds the published Chinchilla points (the package's copy) with a 200-replicate
chinchilla fit, so each prediction evaluates the law, and the compute-optimal N and D for the
query's compute, over 200 bootstrap draws from the cached fit; each of the 2000 requests asks a
different (N, D), so no answer can come from a cache of earlier ones (the LR, batch-size and
critical-batch laws are not fitted: the answer names them in its warnings). Run:
python -m bench.api_predict
"""

from __future__ import annotations

import os
import tempfile
import time

import httpx
import numpy as np

from bench._serve import start_server, uvicorn_factory

ROUNDS = 6
REQUESTS = 2000


def make_ours():
    """uvicorn factory: the hyperlaw app on HYPERLAW_DATABASE_URL."""
    from app.main import create_app
    from app.settings import Settings

    return create_app(Settings())


def make_bare():
    """uvicorn factory: a FastAPI app whose (async, so cheapest) route returns a constant."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/v1/predict")
    async def constant() -> dict:
        return {"loss": {"value": 2.0, "lo": 1.9, "hi": 2.1}}

    return app


def _prepare(url: str) -> int:
    from app import fits, runs, studies
    from app.db import Database, upgrade
    from app.tabular import Columns, read_runs
    from app.worker import fit_jobs
    from bench._data import chinchilla_csv

    upgrade(url)
    database = Database(url)
    table = read_runs(chinchilla_csv(), Columns(n_col="N_params", d_col="D_tokens", loss_col="loss"))
    rows = [
        {"n_params": n, "tokens": d, "loss": loss}
        for n, d, loss in zip(table["N"], table["D"], table["loss"], strict=True)
    ]
    with database.transaction() as session:
        study = studies.create_study(session=session, name="chinchilla", kind="imported")
        runs.import_runs(session=session, study=study, rows=rows)
        fit_id = fits.create_fit(
            session=session, study_id=study.id, law="chinchilla", bootstrap=200, seed=0
        ).id
        holder = fit_jobs.hold(session=session, fit_id=fit_id)
        study_id = study.id
    assert fits.run_fit(database, fit_id, worker_id=holder) == "done"
    database.dispose()
    return study_id


def _queries(study_id: int) -> list[dict]:
    """REQUESTS distinct questions (N from 1e8 to 1e12, 5 to 80 tokens per parameter), so every
    answer is computed: nothing may be served from a cache of earlier answers."""
    n_params = np.logspace(8, 12, REQUESTS)
    ratio = 5.0 * 16.0 ** np.random.default_rng(0).random(REQUESTS)
    return [
        {"study": study_id, "n_params": f"{n:.6g}", "tokens": f"{n * r:.6g}"}
        for n, r in zip(n_params, ratio, strict=True)
    ]


def _rate(client: httpx.Client, path: str, queries: list[dict]) -> float:
    for params in queries[:100]:  # warm-up: connection, restored fit
        assert client.get(path, params=params).status_code == 200
    started = time.perf_counter()
    for params in queries:
        client.get(path, params=params)
    return len(queries) / (time.perf_counter() - started)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        study_id = _prepare(url)
        env = {**os.environ, "HYPERLAW_DATABASE_URL": url}
        ours, ours_url = start_server(uvicorn_factory("bench.api_predict:make_ours"), env, ready_path="/docs")
        bare, bare_url = start_server(uvicorn_factory("bench.api_predict:make_bare"), env, ready_path="/docs")
        queries = _queries(study_id)
        try:
            ours_rates, bare_rates = [], []
            with httpx.Client(timeout=10) as client:
                for _ in range(ROUNDS):
                    ours_rates.append(_rate(client, ours_url + "/v1/predict", queries))
                    bare_rates.append(_rate(client, bare_url + "/v1/predict", queries))
        finally:
            for process in (ours, bare):
                process.terminate()
                process.wait(10)
    best_ours, best_bare = max(ours_rates), max(bare_rates)
    print(
        f"api_predict: ratio={best_ours / best_bare:.2f} (ours {best_ours:.0f} req/s / baseline {best_bare:.0f} req/s)"
    )


if __name__ == "__main__":
    main()
