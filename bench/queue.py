"""Job-queue throughput on SQLite and PostgreSQL, and curve-point ingest.

claims: 4 worker processes claim and finish 2000 no-op jobs (claim in its own
transaction, then finish in another, as a real worker does); the baseline is the same 4
processes running the cheapest write transaction on that engine (update one row by
primary key), so the ratio is the share of raw transaction throughput the queue keeps.
Target: ≥ 500 claims/s on each engine.

ingest: curve points upserted in batches of 1000 (INSERT ... ON CONFLICT DO UPDATE)
against the same rows plainly inserted (no conflict clause). Target: ≥ 50,000 points/s.

PostgreSQL is measured when HYPERLAW_BENCH_POSTGRES_URL (or HYPERLAW_TEST_POSTGRES_URL)
names a server where a scratch database may be created. Run: python -m bench.queue
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
import uuid

from sqlalchemy import create_engine, insert, text, update

JOBS = 2000
WORKERS = 4
POINTS = 100_000
BATCH = 1000


def _seed_jobs(url: str, count: int) -> None:
    from app.db import Database
    from app.db.tables import Run, Study

    database = Database(url)
    with database.transaction() as session:
        study = Study(name=f"bench-{uuid.uuid4().hex[:6]}")
        session.add(study)
        session.flush()
        session.execute(
            insert(Run), [{"study_id": study.id, "status": "queued", "spec": {}} for _ in range(count)]
        )
    database.dispose()


def _claimer(start, done, url: str) -> None:
    from app.db import Database
    from app.worker import queue

    database = Database(url)
    worker = f"bench-{os.getpid()}"
    start.wait()
    count = 0
    while True:
        with database.transaction(immediate=True) as session:
            run = queue.claim(session=session, worker_id=worker)
            run_id = None if run is None else run.id
        if run_id is None:
            break
        with database.transaction() as session:
            queue.finish(session=session, run_id=run_id, worker_id=worker, status="done")
        count += 1
    done.put(count)
    database.dispose()


def _bare_writer(start, done, url: str, row_id: int, count: int) -> None:
    from app.db import Database
    from app.db.tables import Run

    database = Database(url)
    start.wait()
    for i in range(count):
        with database.transaction(immediate=True) as session:
            session.execute(update(Run).where(Run.id == row_id).values(attempts=i))
    done.put(count)
    database.dispose()


def _in_processes(target, args_for) -> float:
    context = multiprocessing.get_context("fork")
    start, done = context.Event(), context.Queue()
    processes = [context.Process(target=target, args=(start, done, *args_for(i))) for i in range(WORKERS)]
    for process in processes:
        process.start()
    time.sleep(0.5)  # let every process connect before the clock starts
    started = time.perf_counter()
    start.set()
    total = sum(done.get() for _ in processes)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    return total / elapsed


def claims(url: str) -> tuple[float, float]:
    _seed_jobs(url, JOBS)
    ours = _in_processes(_claimer, lambda i: (url,))
    _seed_jobs(url, WORKERS)
    from app.db import Database

    database = Database(url)
    with database.transaction() as session:
        ids = [r for (r,) in session.execute(text("SELECT id FROM runs WHERE status = 'queued' ORDER BY id"))]
    database.dispose()
    baseline = _in_processes(_bare_writer, lambda i: (url, ids[i], JOBS // WORKERS))
    return ours, baseline


def ingest(url: str) -> tuple[float, float]:
    from app import curves
    from app.db import Database
    from app.db.tables import CurvePoint, Run, Study

    database = Database(url)
    with database.transaction() as session:
        study = Study(name=f"ingest-{uuid.uuid4().hex[:6]}")
        session.add(study)
        session.flush()
        ours_run, bare_run = (Run(study_id=study.id, status="running", spec={}) for _ in range(2))
        session.add_all([ours_run, bare_run])
        session.flush()
        ours_id, bare_id = ours_run.id, bare_run.id
    rows = [
        {
            "step": s,
            "tokens": 256.0 * s,
            "train_loss": 3.0,
            "eval_loss": None,
            "lr": 1e-3,
            "noise_scale": None,
            "wall_time": 0.01 * s,
        }
        for s in range(POINTS)
    ]

    started = time.perf_counter()
    for i in range(0, POINTS, BATCH):
        with database.transaction() as session:
            curves.write_points(session=session, run_id=ours_id, points=rows[i : i + BATCH])
    ours = POINTS / (time.perf_counter() - started)

    started = time.perf_counter()
    for i in range(0, POINTS, BATCH):
        with database.transaction() as session:
            session.execute(insert(CurvePoint), [{**r, "run_id": bare_id} for r in rows[i : i + BATCH]])
    baseline = POINTS / (time.perf_counter() - started)
    database.dispose()
    return ours, baseline


def _postgres_scratch() -> tuple[str, object] | None:
    admin_url = os.environ.get("HYPERLAW_BENCH_POSTGRES_URL") or os.environ.get("HYPERLAW_TEST_POSTGRES_URL")
    if not admin_url:
        return None
    from sqlalchemy.engine import make_url

    name = f"hyperlaw_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    from app.db import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        engines = [("sqlite", f"sqlite:///{tmp}/bench.db", lambda: None)]
        scratch = _postgres_scratch()
        if scratch is None:
            print("queue_postgresql: skipped (set HYPERLAW_BENCH_POSTGRES_URL to a server)")
        else:
            engines.append(("postgresql", *scratch))
        for name, url, drop in engines:
            try:
                upgrade(url)
                ours, baseline = claims(url)
                print(
                    f"queue_claims_{name}: ratio={ours / baseline:.2f} (ours {ours:.0f} claims/s / baseline "
                    f"{baseline:.0f} bare write transactions/s; target >= 500 claims/s)"
                )
                ours, baseline = ingest(url)
                print(
                    f"curve_ingest_{name}: ratio={ours / baseline:.2f} (ours {ours:.0f} points/s upserted / "
                    f"baseline {baseline:.0f} points/s plain insert; target >= 50000 points/s)"
                )
            finally:
                drop()


if __name__ == "__main__":
    main()
