"""Load: sweep submissions, each sent twice with the same Idempotency-Key, while predictions run.

A real `hyperlaw serve` (its own process, SQLite by default) holds a study of the published
Chinchilla points with a 200-replicate fit, and an empty study the sweeps are queued into (no
worker: the runs stay queued). Concurrent clients, each with its own write token, send 200 sweeps
of 2 runs; every sweep is sent twice with the same key, the two copies by different clients at
about the same moment; meanwhile other clients ask 10,000 distinct predictions. A client whose
request is refused for a moment (503, 429) waits Retry-After and sends it again, as a client should.

Checks: no 5xx answer, the two copies of each sweep answered with the same run ids, each sweep's
runs stored once (the study holds exactly 2 x 200 runs). Prints the p50/p99 latencies of both kinds
of request. `--scale 0.1` runs a tenth of the requests, for a quick check.

Run: python -m bench.load [--sweeps 200] [--predicts 10000] [--scale 1] [--database-url URL]
Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from bench._serve import HYPERLAW_SERVE, start_server
from bench.api_predict import _prepare

TINY_SPEC = {
    "n_layer": 1,
    "d_model": 16,
    "n_head": 2,
    "seq_len": 32,
    "tokens": 4096,
    "batch_tokens": 256,
    "lr": 3e-3,
    "data": "synthetic:markov",
}
TIMEOUT_S = 30.0


def _setup(url: str, sweep_clients: int) -> tuple[int, int, list[str]]:
    """(the fitted study, the study sweeps go into, one write token per sweep client)."""
    from app import studies, tokens
    from app.db import Database

    fitted = _prepare(url)  # migrates, imports the Chinchilla points and fits them
    database = Database(url)
    with database.transaction() as session:
        target = studies.create_study(session=session, name="sweeps").id
        secrets = [tokens.create_token(session=session, scope="write")[0] for _ in range(sweep_clients)]
    database.dispose()
    return fitted, target, secrets


class Tally:
    """Status codes and latencies of one kind of request, from many threads."""

    def __init__(self) -> None:
        self.codes: Counter = Counter()
        self.latencies: list[float] = []
        self.lock = threading.Lock()

    def add(self, code: int | str, seconds: float) -> None:
        with self.lock:
            self.codes[code] += 1
            self.latencies.append(seconds)

    def percentiles(self) -> str:
        p50, p99 = np.percentile(np.array(self.latencies) * 1000, [50, 99])
        return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"


def _send(client: httpx.Client, tally: Tally, method: str, path: str, **kwargs) -> httpx.Response | None:
    """One request, sent again after Retry-After while refused for a moment (503, 429)."""
    for _ in range(100):
        started = time.perf_counter()
        try:
            answer = client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            tally.add("timeout", time.perf_counter() - started)
            continue
        tally.add(answer.status_code, time.perf_counter() - started)
        if answer.status_code not in (429, 503):
            return answer
        time.sleep(min(float(answer.headers.get("retry-after", 1)), 2.0))
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    parser.add_argument("--sweeps", type=int, default=200, help="distinct sweeps, each sent twice")
    parser.add_argument("--predicts", type=int, default=10_000, help="prediction requests")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply both counts (0.1: a quick check)")
    parser.add_argument("--sweep-clients", type=int, default=16, help="concurrent sweep clients")
    parser.add_argument("--predict-clients", type=int, default=8, help="concurrent prediction clients")
    parser.add_argument("--database-url", default=None, help="an empty database (default: a new SQLite file)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sweeps = max(1, round(args.sweeps * args.scale))
    predicts = max(1, round(args.predicts * args.scale))

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/load.db"
        fitted, target, secrets = _setup(url, args.sweep_clients)
        env = {**os.environ, "HYPERLAW_DATABASE_URL": url}
        with open(Path(tmp) / "serve.log", "wb") as log:
            server, base = start_server(HYPERLAW_SERVE, env, log=log)
            try:
                result = _load(base, fitted, target, secrets, sweeps, predicts, args)
            finally:
                server.terminate()
                server.wait(30)
        stored = _stored(url, target)
    sweep_tally, predict_tally, answers, elapsed = result
    five_xx = sum(
        n
        for code, n in (sweep_tally.codes + predict_tally.codes).items()
        if isinstance(code, int) and code >= 500
    )
    refused = [key for key, ids in answers.items() if len(ids) != 2 or None in ids]
    disagree = [key for key, ids in answers.items() if len(ids) == 2 and ids[0] != ids[1]]
    run_ids = [run_id for ids in answers.values() if ids and ids[0] for run_id in ids[0]]
    print(
        f"{sweeps} sweeps x 2 copies and {predicts} predictions in {elapsed:.1f} s "
        f"({args.sweep_clients} + {args.predict_clients} clients)"
    )
    print(f"sweeps:      {sweep_tally.percentiles()}; answers {dict(sweep_tally.codes)}")
    print(f"predictions: {predict_tally.percentiles()}; answers {dict(predict_tally.codes)}")
    print(
        f"{five_xx} 5xx; {sweeps - len(refused) - len(disagree)}/{sweeps} sweeps stored once "
        f"({stored} runs in the study, {2 * sweeps} expected; {len(set(run_ids))} distinct ids answered)"
    )
    ok = (
        five_xx == 0
        and not refused
        and not disagree
        and stored == 2 * sweeps == len(set(run_ids))
        and predict_tally.codes[200] == predicts
    )
    return 0 if ok else 1


def _load(base: str, fitted: int, target: int, secrets: list[str], sweeps: int, predicts: int, args):
    rng = random.Random(args.seed)
    # Each sweep twice, the copies side by side in the order, so two clients send them together.
    order = [number for number in range(sweeps) for _ in range(2)]
    answers: dict[str, list] = {f"load-{n}": [] for n in range(sweeps)}
    answers_lock = threading.Lock()
    next_sweep = iter(order)
    sweep_lock = threading.Lock()
    n_values = np.logspace(8, 12, predicts)
    ratios = 5.0 * 16.0 ** np.random.default_rng(args.seed).random(predicts)
    queries = [
        {"study": fitted, "n_params": f"{n:.6g}", "tokens": f"{n * r:.6g}"}
        for n, r in zip(n_values, ratios, strict=True)
    ]
    rng.shuffle(queries)
    next_query = iter(queries)
    query_lock = threading.Lock()
    sweep_tally, predict_tally = Tally(), Tally()

    def sweeping(secret: str) -> None:
        headers = {"Authorization": f"Bearer {secret}"}
        with httpx.Client(base_url=base, headers=headers, timeout=TIMEOUT_S) as client:
            while True:
                with sweep_lock:
                    number = next(next_sweep, None)
                if number is None:
                    return
                key = f"load-{number}"
                body = {"base": TINY_SPEC, "grid": {"seed": [2 * number, 2 * number + 1]}}
                answer = _send(
                    client,
                    sweep_tally,
                    "POST",
                    f"/v1/studies/{target}/sweeps",
                    json=body,
                    headers={"Idempotency-Key": key},
                )
                ids = (
                    answer.json()["ids"] if answer is not None and answer.status_code in (200, 201) else None
                )
                with answers_lock:
                    answers[key].append(ids)

    def predicting() -> None:
        with httpx.Client(base_url=base, timeout=TIMEOUT_S) as client:
            while True:
                with query_lock:
                    params = next(next_query, None)
                if params is None:
                    return
                _send(client, predict_tally, "GET", "/v1/predict", params=params)

    started = time.perf_counter()
    with ThreadPoolExecutor(len(secrets) + args.predict_clients) as pool:
        futures = [pool.submit(predicting) for _ in range(args.predict_clients)]
        futures += [pool.submit(sweeping, secret) for secret in secrets]
        for future in futures:
            future.result()
    return sweep_tally, predict_tally, answers, time.perf_counter() - started


def _stored(url: str, target: int) -> int:
    from sqlalchemy import func, select

    from app.db import Database
    from app.db.tables import Run

    database = Database(url)
    with database.transaction(immediate=False) as session:
        count = session.scalar(select(func.count()).select_from(Run).where(Run.study_id == target)) or 0
    database.dispose()
    return count


if __name__ == "__main__":
    sys.exit(main())
