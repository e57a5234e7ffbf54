"""Curve ingest into a table that already holds many points, and a large CSV import, on SQLite and
PostgreSQL, each against a plain baseline in the same process.

curve_ingest: `app.curves.write_points` (the worker's write: an idempotent upsert, executemany on
SQLite, COPY and a merge on PostgreSQL) writes POINTS points of a new run in batches of BATCH, one
transaction each, into a table already holding `--table-points` points (default 1,000,000;
`--big` for 10,000,000). Baseline: the same rows, batches and transactions sent as a plain INSERT
through the driver's executemany (no conflict clause, rows already tuples), into another new run
of the same table. The two alternate batch by batch so they see the same table and the same
machine. Target: ratio >= 0.8.

csv_import: POST /v1/studies/{id}/import of a CSV of `--import-runs` runs (default 100,000) to a
real server (uvicorn in a subprocess, whose peak RSS is read from /proc). Baseline: the same runs written by a plain executemany of tuples
(SQLite) or COPY (PostgreSQL) in one transaction, with nothing parsed. Target: under 10 s. The runs'
losses follow Hoffmann et al.'s law (E 1.69, A 406.4, α 0.34, B 410.7, β 0.28) times 1% log-normal
scatter, at distinct (N, D) spread over two decades each.

fit: with `--fit R`, the same server then fits `chinchilla` with R bootstrap replicates over every
imported run (POST /v1/studies/{id}/fits, polled to the end): its wall time, the server's peak RSS
and the recovered exponents (Hoffmann's α 0.34 and β 0.28 are the truth).

PostgreSQL is measured when HYPERLAW_BENCH_POSTGRES_URL (or HYPERLAW_TEST_POSTGRES_URL) names a
server where a scratch database may be created (it is dropped afterwards).
Run: python -m bench.ingest [--table-points N | --big] [--import-runs N] [--fit R]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import create_engine, text

CSV = {"Content-Type": "text/csv"}
POINTS = 100_000
BATCH = 1000
FILL_RUN_POINTS = 10_000  # points per run while filling the table


def _rows(run_id: int, steps: range) -> list[tuple]:
    return [(run_id, s, 256.0 * s, 3.0 + 1.0 / (s + 1), None, 1e-3, None, 0.01 * s) for s in steps]


def _new_runs(database, count: int) -> list[int]:
    from app.db.tables import Run, Study

    with database.transaction() as session:
        study = Study(name=f"ingest-{uuid.uuid4().hex[:8]}")
        session.add(study)
        session.flush()
        made = [Run(study_id=study.id, status="running", spec={}) for _ in range(count)]
        session.add_all(made)
        session.flush()
        return [r.id for r in made]


PLAIN = (
    "INSERT INTO curve_points (run_id, step, tokens, train_loss, eval_loss, lr, noise_scale, wall_time) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)


def _plain(connection, rows: list[tuple]) -> None:
    """The baseline: a plain INSERT through the driver's executemany."""
    mark = "?" if connection.dialect.name == "sqlite" else "%s"
    cursor = connection.connection.driver_connection.cursor()
    cursor.executemany(PLAIN.format(p=mark), rows)
    cursor.close()


def _fill(database, points: int) -> None:
    """`points` points spread over runs of FILL_RUN_POINTS, written the fastest way each engine has."""
    runs = _new_runs(database, max(1, points // FILL_RUN_POINTS))
    started = time.perf_counter()
    for run_id in runs:
        rows = _rows(run_id, range(FILL_RUN_POINTS))
        with database.transaction() as session:
            connection = session.connection()
            if connection.dialect.name == "postgresql":
                raw = connection.connection.driver_connection
                with raw.cursor() as cursor, cursor.copy("COPY curve_points FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                _plain(connection, rows)
    if database.url.startswith("postgresql"):
        with database.transaction() as session:
            session.execute(text("ANALYZE curve_points"))
    print(
        f"  (table filled with {len(runs) * FILL_RUN_POINTS} points in {time.perf_counter() - started:.0f} s)"
    )


def curve_ingest(database, table_points: int) -> tuple[float, float]:
    from app import curves

    _fill(database, table_points)
    ours_id, plain_id = _new_runs(database, 2)
    names = ("run_id", *curves.COLUMNS)
    ours_time = plain_time = 0.0
    for start in range(0, POINTS, BATCH):
        steps = range(start, start + BATCH)
        points = [dict(zip(names, row, strict=True)) for row in _rows(ours_id, steps)]
        began = time.perf_counter()
        with database.transaction() as session:
            curves.write_points(session=session, run_id=ours_id, points=points)
        ours_time += time.perf_counter() - began
        rows = _rows(plain_id, steps)
        began = time.perf_counter()
        with database.transaction() as session:
            _plain(session.connection(), rows)
        plain_time += time.perf_counter() - began
    return POINTS / ours_time, POINTS / plain_time


def _law_rows(count: int) -> list[str]:
    """CSV rows N,D,loss: distinct (N, D) over two decades each, Hoffmann et al.'s law, 1% scatter."""
    import numpy as np

    rng = np.random.default_rng(0)
    n_params = 1e6 * 100 ** rng.random(count)
    tokens = 2e7 * 100 ** rng.random(count)
    loss = (1.69 + 406.4 / n_params**0.34 + 410.7 / tokens**0.28) * np.exp(0.01 * rng.standard_normal(count))
    return [f"{n:.6g},{d:.6g},{x:.6f}" for n, d, x in zip(n_params, tokens, loss, strict=True)]


def _fit(client: object, study: int, replicates: int, process: object) -> str:
    """Fit chinchilla over every run of the study on the server; one line of time, RSS and exponents."""
    from bench.curve_serve import memory_mb

    started = time.perf_counter()
    body = {"law": "chinchilla", "bootstrap": replicates, "runs": "all"}
    response = client.post(f"/v1/studies/{study}/fits", json=body)  # type: ignore[attr-defined]
    assert response.status_code in (201, 202), response.text[:500]
    fit = {"id": response.json()["id"], "status": "queued"}
    while fit["status"] in ("queued", "running"):
        time.sleep(1.0)
        fit = client.get(f"/v1/fits/{fit['id']}").json()  # type: ignore[attr-defined]
    seconds = time.perf_counter() - started
    peak = memory_mb(process.pid)["VmHWM"]  # type: ignore[attr-defined]
    assert fit["status"] == "done", str(fit)[:1000]
    params = fit["params"]
    return (
        f"{fit['n_points']} runs, {replicates} replicates in {seconds:.1f} s, server peak RSS {peak:.0f} MB; "
        f"alpha {params.get('alpha', float('nan')):.4f} (true 0.34), beta {params.get('beta', float('nan')):.4f} (true 0.28)"
    )


def csv_import(url: str, count: int, fit_replicates: int = 0) -> tuple[float, float, float, str]:
    """(seconds for the API import, seconds for the baseline, the server's RSS growth in MB, the fit's
    line or "" without --fit)."""
    import httpx

    from app import tokens
    from app.db import Database
    from bench.curve_serve import memory_mb, serve

    lines = _law_rows(count)
    body = ("N,D,loss\n" + "\n".join(lines) + "\n").encode()
    del lines
    database = Database(url)
    with database.transaction() as session:
        token, _ = tokens.create_token(session=session, scope="write")
    env = {
        "HYPERLAW_DATABASE_URL": url,
        "HYPERLAW_MAX_IMPORT_BYTES": str(max(len(body) + 1024, 1 << 20)),
        "HYPERLAW_MAX_IMPORT_ROWS": str(count),
    }
    process, base = serve(env)
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=900) as client:
            study = client.post("/v1/studies", json={"name": f"import-{uuid.uuid4().hex[:8]}"}).json()["id"]
            warm = client.post(f"/v1/studies/{study}/import", content=b"N,D,loss\n1e6,2e7,3.5\n", headers=CSV)
            assert warm.status_code == 201, warm.text
            before = memory_mb(process.pid)["VmRSS"]
            started = time.perf_counter()
            response = client.post(
                f"/v1/studies/{study}/import", content=body, headers={"Content-Type": "text/csv"}
            )
            ours = time.perf_counter() - started
            grown = memory_mb(process.pid)["VmHWM"] - before
            assert response.status_code == 201 and response.json()["count"] == count, response.text[:500]
            fitted = _fit(client, study, fit_replicates, process) if fit_replicates else ""
    finally:
        process.terminate()
        process.wait(30)
    del body
    stamp = datetime.now(UTC).replace(tzinfo=None)
    values = [
        (study, "done", 1e6 * (1 + i % 97), 2e7 * (1 + i % 13), 1.2e14, 1.2e14, 3.0, 3.0, 0, stamp, stamp)
        for i in range(count)
    ]
    columns = (
        "study_id, status, n_params, tokens, flops, flops_6nd, loss, final_eval_loss, attempts, "
        "created_at, finished_at"
    )
    started = time.perf_counter()
    with database.transaction() as session:
        connection = session.connection()
        raw = connection.connection.driver_connection
        if connection.dialect.name == "postgresql":
            with raw.cursor() as cursor, cursor.copy(f"COPY runs ({columns}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
        else:
            text_stamp = stamp.strftime("%Y-%m-%d %H:%M:%S.%f")
            rows = [(*row[:-2], text_stamp, text_stamp) for row in values]
            raw.executemany(f"INSERT INTO runs ({columns}) VALUES ({', '.join('?' * 11)})", rows)
    baseline = time.perf_counter() - started
    database.dispose()
    return ours, baseline, grown, fitted


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table-points", type=int, default=1_000_000, help="points in the table first")
    parser.add_argument("--big", action="store_true", help="10,000,000 points in the table first")
    parser.add_argument("--import-runs", type=int, default=100_000, help="runs in the imported CSV")
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--import-only", action="store_true", help="skip the curve ingest")
    parser.add_argument("--ingest-only", action="store_true", help="skip the CSV import")
    parser.add_argument(
        "--fit", type=int, default=0, metavar="R", help="then fit every imported run, R replicates"
    )
    args = parser.parse_args()
    table_points = 10_000_000 if args.big else args.table_points

    from app.db import Database, upgrade

    with tempfile.TemporaryDirectory() as tmp:
        engines = []
        if args.engine in ("sqlite", "both"):
            engines.append(("sqlite", f"sqlite:///{tmp}/bench.db", lambda: None))
        if args.engine in ("postgresql", "both"):
            scratch = _postgres_scratch()
            if scratch is None:
                print("postgresql: skipped (set HYPERLAW_BENCH_POSTGRES_URL to a server)")
            else:
                engines.append(("postgresql", *scratch))
        for name, url, drop in engines:
            try:
                upgrade(url)
                if not args.ingest_only:
                    ours, baseline, grown, fitted = csv_import(url, args.import_runs, args.fit)
                    print(
                        f"csv_import_{name}: {args.import_runs} runs in {ours:.2f} s through the API, "
                        f"ratio={baseline / ours:.2f} of a bare write of the same rows ({baseline:.2f} s; "
                        f"target < 10 s at 100,000); the server's RSS grew {grown:.0f} MB"
                    )
                    if fitted:
                        print(f"fit_{name}: {fitted}", flush=True)
                if args.import_only:
                    continue
                database = Database(url)
                ours, baseline = curve_ingest(database, table_points)
                database.dispose()
                print(
                    f"curve_ingest_{name}: ratio={ours / baseline:.2f} (write_points {ours:.0f} points/s / "
                    f"plain executemany {baseline:.0f} points/s, into a table of {table_points} points, "
                    f"batches of {BATCH}; target >= 0.8)"
                )
            finally:
                drop()


if __name__ == "__main__":
    main()
