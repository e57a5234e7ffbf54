"""Database outages: a PostgreSQL server of the test's own, stopped (`pg_ctl stop -m fast`) and
started again while runs train and while the API serves a stream of requests.

- A run training through a ~12 s outage waits it out and completes with every logged step
  stored exactly once, on its first attempt.
- A run whose writes fail past its retry budget is given back to the queue as soon as the
  database returns (its attempt not counted), not after the heartbeat timeout, and completes.
- The API under predict and write requests answers only 200/201 or 503 during a ~20 s outage
  (never 500, never slower than the client's timeout); after the restart every write retried
  with its Idempotency-Key is stored once.

Not the shared server of the other tests: this one is stopped. Needs PostgreSQL's binaries
(/usr/lib/postgresql/*/bin), else skipped.
"""

from __future__ import annotations

import glob
import itertools
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from app import tokens
from app.db import Database, upgrade
from app.db.tables import CurvePoint, Run
from app.settings import Settings
from app.worker.pool import Pool
from tests.conftest import CHINCHILLA_CSV
from tests.integration.helpers import TINY_SPEC, make_study, queue_runs
from tests.integration.server import ServerThread, free_port

pytestmark = pytest.mark.slow  # its own PostgreSQL server: HYPERLAW_TEST_POSTGRES_URL is not used

# 1200 steps of a tiny model, every step logged, a checkpoint every 25: from 3 s of training on an
# idle core to a minute on a busy one; the outage starts with the first stored point, well before
# the end.
STEPS = 1200
LONG_SPEC = {"tokens": STEPS * 256, "eval_every_tokens": 25 * 256, "eval_tokens": 512}


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """A PostgreSQL server in a temporary folder on a free port, run as `postgres` when we are root
    (initdb refuses root), as .ci/run starts the shared one."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.data = Path(tempfile.mkdtemp(prefix="hyperlaw-outage-pg-"))
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")

    def _as_owner(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["su", "postgres", "-c", subprocess.list2cmdline(command)]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._as_owner("initdb", "-D", str(self.data / "db"), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data}"
        self._as_owner(
            "pg_ctl", "-D", str(self.data / "db"), "-o", options, "-l", str(self.data / "log"), "-w", "start"
        )

    def stop(self) -> None:
        self._as_owner("pg_ctl", "-D", str(self.data / "db"), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture
def postgres():
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL's binaries (/usr/lib/postgresql/*/bin) are absent: no server to stop")
    server = PrivatePostgres(bin_dir)
    try:
        server.init()
        server.start()
        upgrade(server.url)
        yield server
    finally:
        server.remove()


def _outage(postgres: PrivatePostgres, seconds: float) -> None:
    postgres.stop()
    time.sleep(seconds)
    postgres.start()


def _pool_in_thread(settings: Settings) -> tuple[Pool, threading.Thread]:
    pool = Pool(settings, concurrency=1, shutdown_grace_s=30)
    thread = threading.Thread(target=pool.run, daemon=True)
    thread.start()
    return pool, thread


def _wait_for(condition, timeout: float, what: str, state=lambda: None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # the database is away: ask again
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {state()}")


def _run(database: Database, run_id: int) -> Run:
    with database.transaction(immediate=False) as session:
        run = session.get(Run, run_id)
        session.expunge(run)
        return run


def _steps(database: Database, run_id: int) -> list[int]:
    with database.transaction(immediate=False) as session:
        return list(session.scalars(select(CurvePoint.step).where(CurvePoint.run_id == run_id)))


def _train_through_outage(
    postgres, tmp_path, *, retry_s: float, outage_s: float, heartbeat_timeout_s: float = 120
) -> tuple[Run, list[int], float, list[float]]:
    database = Database(postgres.url)
    settings = Settings(
        database_url=postgres.url,
        checkpoint_dir=tmp_path / "checkpoints",
        heartbeat_interval_s=0.5,
        heartbeat_timeout_s=heartbeat_timeout_s,
        worker_poll_s=0.2,
        curve_write_retry_s=retry_s,
    )
    study = make_study(database)
    (run_id,) = queue_runs(database, study, 1, **LONG_SPEC)
    pool, thread = _pool_in_thread(settings)
    try:
        _wait_for(lambda: len(_steps(database, run_id)) >= 1, 120, "the run to store a point")
        assert _run(database, run_id).status == "running"
        _outage(postgres, outage_s)
        back = time.monotonic()
        _wait_for(
            lambda: _run(database, run_id).status in ("done", "failed"),
            240,
            "the run to end",
            state=lambda: vars(_run(database, run_id)),
        )
        after = time.monotonic() - back
        run = _run(database, run_id)
        with database.transaction(immediate=False) as session:
            walls = list(
                session.scalars(
                    select(CurvePoint.wall_time).where(CurvePoint.run_id == run_id).order_by(CurvePoint.step)
                )
            )
        return run, _steps(database, run_id), after, walls
    finally:
        pool.stop()
        thread.join(60)
        database.dispose()


def _starts(caplog, run_id: int) -> int:
    """How many processes the pool started for the run (its log)."""
    return sum(r.getMessage().startswith(f"run {run_id} started") for r in caplog.records)


def test_a_run_waits_out_a_database_outage_and_stores_every_step_once(postgres, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="app.worker.pool")
    run, steps, after, walls = _train_through_outage(postgres, tmp_path, retry_s=60, outage_s=12)
    print(
        f"\noutage 12 s: run {run.status} on attempt {run.attempts}, {len(steps)} points, done {after:.1f} s after"
    )
    assert run.status == "done" and run.error is None, run.error
    assert run.attempts == 1  # the outage used no attempt
    assert sorted(steps) == list(range(1, STEPS + 1))  # each logged step exactly once
    assert _starts(caplog, run.id) == 1  # the same process trained on after the outage
    # The run waited for the database at a checkpoint (it trains on between checkpoints, its points
    # kept in memory): one gap between consecutive points is seconds long, the usual one a fraction.
    gaps = sorted(later - earlier for earlier, later in itertools.pairwise(walls))
    print(f"points {gaps[len(gaps) // 2]:.3f} s apart (median), longest gap {gaps[-1]:.1f} s")
    assert gaps[-1] > 2 and gaps[-1] > 20 * gaps[len(gaps) // 2]


def test_a_run_whose_writes_fail_past_the_budget_is_released_not_failed(postgres, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="app.worker.pool")
    # A heartbeat timeout of 10 minutes: the run can only end within the wait below if its process
    # gave it back itself.
    run, steps, after, _ = _train_through_outage(
        postgres, tmp_path, retry_s=2, outage_s=12, heartbeat_timeout_s=600
    )
    print(
        f"\nretry budget 2 s, outage 12 s: run {run.status} on attempt {run.attempts}, done {after:.1f} s after"
    )
    assert run.status == "done" and run.error is None, run.error
    assert run.attempts == 1  # released with its attempt given back, then claimed once more
    assert sorted(steps) == list(range(1, STEPS + 1))
    assert _starts(caplog, run.id) == 2  # released by its process, claimed again and resumed


def test_the_api_answers_503_through_an_outage_and_loses_no_retried_write(postgres):
    settings = Settings(database_url=postgres.url, write_rate_per_minute=0, fit_inline_max_bootstrap=10)
    database = Database(postgres.url)
    with database.transaction() as session:
        write, _ = tokens.create_token(session=session, scope="write")
    timeout = 10.0
    with (
        ServerThread(settings) as server,
        httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {write}"}, timeout=timeout
        ) as api,
    ):
        study = api.post("/v1/studies", json={"name": "outage"}).json()["id"]
        imported = api.post(
            f"/v1/studies/{study}/import",
            params={"n_col": "N_params", "d_col": "D_tokens", "loss_col": "loss"},
            content=CHINCHILLA_CSV.read_bytes(),
            headers={"Content-Type": "text/csv"},
        )
        assert imported.status_code == 201, imported.text
        fitted = api.post(f"/v1/studies/{study}/fits", json={"law": "chinchilla", "bootstrap": 10, "seed": 0})
        assert fitted.status_code == 201, fitted.text
        target = api.post("/v1/studies", json={"name": "sweeps"}).json()["id"]

        codes: Counter = Counter()
        problems: list[str] = []
        stored: dict[str, list[int]] = {}
        stop = threading.Event()
        lock = threading.Lock()

        def note(code: int | str, kind: str) -> None:
            with lock:
                codes[f"{kind} {code}"] += 1

        def predicting() -> None:
            with httpx.Client(base_url=server.url, timeout=timeout) as client:
                while not stop.is_set():
                    try:
                        answer = client.get(
                            "/v1/predict", params={"study": study, "n_params": 1e9, "tokens": 2e10}
                        )
                    except httpx.TimeoutException:
                        problems.append("predict timed out")
                        continue
                    note(answer.status_code, "predict")
                    time.sleep(0.02)

        def writing(thread: int) -> None:
            headers = {"Authorization": f"Bearer {write}"}
            with httpx.Client(base_url=server.url, timeout=timeout, headers=headers) as client:
                number = 0
                while not stop.is_set():
                    key = f"w{thread}-{number}"
                    body = {"base": TINY_SPEC, "grid": {"seed": [2 * number, 2 * number + 1]}}
                    while True:  # the client's retry: same key, same body, until it is stored
                        try:
                            answer = client.post(
                                f"/v1/studies/{target}/sweeps", json=body, headers={"Idempotency-Key": key}
                            )
                        except httpx.TimeoutException:
                            problems.append("write timed out")
                            continue
                        note(answer.status_code, "write")
                        if answer.status_code in (200, 201):
                            stored[key] = answer.json()["ids"]
                            break
                        if answer.status_code != 503:
                            problems.append(f"write {answer.status_code}: {answer.text[:200]}")
                            break
                        time.sleep(min(float(answer.headers.get("retry-after", 1)), 1.0))
                    number += 1
                    time.sleep(0.1)

        threads = [threading.Thread(target=predicting) for _ in range(2)]
        threads += [threading.Thread(target=writing, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(3)
            _outage(postgres, 20)
            time.sleep(5)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
    print(f"\nduring a 20 s outage: {dict(sorted(codes.items()))}, {len(stored)} sweeps stored")
    assert not problems, problems[:5]
    assert set(codes) <= {"predict 200", "predict 503", "write 200", "write 201", "write 503"}, codes
    assert codes["predict 503"] > 0 and codes["write 503"] > 0  # the outage was seen
    assert codes["predict 200"] > 0 and codes["write 201"] >= len(stored) > 0
    ids = [run_id for sweep in stored.values() for run_id in sweep]
    assert all(len(sweep) == 2 for sweep in stored.values())
    assert len(ids) == len(set(ids))
    with database.transaction(immediate=False) as session:
        in_study = session.scalar(select(func.count()).select_from(Run).where(Run.study_id == target))
    database.dispose()
    assert in_study == len(ids)  # nothing lost, nothing duplicated
