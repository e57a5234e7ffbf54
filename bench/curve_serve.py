"""Serving one long loss curve: GET /v1/runs/{id}/curve downsampled, paged as JSON and streamed as
CSV, against a bare read-and-serialise of the same rows in this process.

A run of `--points` points (default 100,000) is written, then the API is served by uvicorn in its
own process (so its memory can be read from /proc). Measured:
- downsampled: `?max_points=2000`, the median of 5 requests. Target: under 1 s.
- raw JSON: every point, page after page (`limit` = the default page of 10,000, chained by
  the X-Next-Step header; the pages are parsed after the clock stops). Baseline: the same rows read with one Core select in this process and serialised with
  json.dumps, no HTTP. Target: ratio (baseline time / ours) >= 0.5.
- raw CSV: every point in one streamed answer, against the same baseline written as CSV.
- the server's RSS: its peak (VmHWM) after all of the above, less its RSS after a warm-up on a short
  curve. Target: under 50 MB.

Run: python -m bench.curve_serve [--points N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import tempfile
import time

import httpx

from bench._serve import start_server, uvicorn_factory

MAX_POINTS = 2000


def serve(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """The hyperlaw app (bench.api_predict's factory, Settings from the HYPERLAW_ environment in
    `env`) served by uvicorn in a subprocess; returns it and its base URL once it answers."""
    return start_server(uvicorn_factory("bench.api_predict:make_ours"), {**os.environ, **env})


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (the peak RSS) of process `pid`, in MB."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values


def _write_curve(database, points: int) -> tuple[int, int]:
    """A run of `points` points and one of 50 (for the warm-up); their ids."""
    from app import curves
    from app.db.tables import Run, Study

    with database.transaction() as session:
        study = Study(name=f"curve-{os.getpid()}-{time.time_ns()}")
        session.add(study)
        session.flush()
        long_run, short_run = (
            Run(study_id=study.id, status="done", spec={}),
            Run(study_id=study.id, status="done", spec={}),
        )
        session.add_all([long_run, short_run])
        session.flush()
        ids = long_run.id, short_run.id
    for run_id, count in zip(ids, (points, 50), strict=True):
        for start in range(0, count, 10_000):
            batch = [
                {
                    "step": s,
                    "tokens": 4096.0 * s,
                    "train_loss": 3.0 + 10.0 / (s + 1),
                    "eval_loss": 3.1 + 10.0 / (s + 1) if s % 100 == 0 else None,
                    "lr": 1e-3,
                    "noise_scale": None,
                    "wall_time": 0.05 * s,
                }
                for s in range(start, min(count, start + 10_000))
            ]
            with database.transaction() as session:
                curves.write_points(session=session, run_id=run_id, points=batch)
    return ids


def _bare(database, run_id: int) -> tuple[float, float]:
    """Seconds to read the run's points with one Core select and serialise them: (JSON, CSV)."""
    from sqlalchemy import select

    from app import curves
    from app.db.tables import CurvePoint

    table = CurvePoint.__table__
    query = select(*(table.c[name] for name in curves.COLUMNS)).where(table.c.run_id == run_id)
    query = query.order_by(table.c.step)
    timings = []
    for as_csv in (False, True):
        started = time.perf_counter()
        with database.engine.connect() as connection:
            rows = connection.execute(query).all()
        if as_csv:
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(curves.COLUMNS)
            writer.writerows(["" if v is None else v for v in row] for row in rows)
            out.getvalue().encode()
        else:
            json.dumps({"points": [dict(zip(curves.COLUMNS, row, strict=True)) for row in rows]}).encode()
        timings.append(time.perf_counter() - started)
    return timings[0], timings[1]


def _paged(client: httpx.Client, run_id: int) -> tuple[float, int]:
    """Seconds to fetch every page (chained by the X-Next-Step header, as a client that streams the
    pages on would), and the points they held (parsed after the clock stops)."""
    started = time.perf_counter()
    pages, params = [], {}
    while True:
        response = client.get(f"/v1/runs/{run_id}/curve", params=params)
        pages.append(response.content)
        if "x-next-step" not in response.headers:
            break
        params = {"from_step": response.headers["x-next-step"]}
    elapsed = time.perf_counter() - started
    return elapsed, sum(len(json.loads(page)["points"]) for page in pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()

    from app.db import Database, upgrade

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/curve.db"
        upgrade(url)
        database = Database(url)
        long_id, short_id = _write_curve(database, args.points)
        process, base = serve({"HYPERLAW_DATABASE_URL": url, "HYPERLAW_PUBLIC_READS": "true"})
        try:
            with httpx.Client(base_url=base, timeout=600) as client:
                for params in ({}, {"max_points": 20}, {"format": "csv"}, {"limit": 10}):  # warm-up
                    assert client.get(f"/v1/runs/{short_id}/curve", params=params).status_code == 200
                before = memory_mb(process.pid)["VmRSS"]
                times = []
                for _ in range(5):
                    started = time.perf_counter()
                    body = client.get(f"/v1/runs/{long_id}/curve", params={"max_points": MAX_POINTS}).json()
                    times.append(time.perf_counter() - started)
                assert len(body["points"]) <= MAX_POINTS and body["downsampled_from"] == args.points
                downsampled = statistics.median(times)
                paged, count = _paged(client, long_id)
                assert count == args.points, count
                started = time.perf_counter()
                response = client.get(f"/v1/runs/{long_id}/curve", params={"format": "csv"})
                streamed = time.perf_counter() - started
                assert response.text.count("\n") == args.points + 1
                peak = memory_mb(process.pid)["VmHWM"]
        finally:
            process.terminate()
            process.wait(30)
        bare_json, bare_csv = _bare(database, long_id)
        database.dispose()
    engine = url.split(":", 1)[0].split("+", 1)[0]
    print(
        f"curve_downsampled_{engine}: {downsampled * 1000:.0f} ms for {args.points} points to <= {MAX_POINTS} "
        f"(median of 5; target < 1000 ms)"
    )
    print(
        f"curve_paged_json_{engine}: ratio={bare_json / paged:.2f} (ours {paged:.2f} s over HTTP in pages of "
        f"10,000 / baseline {bare_json:.2f} s select + json.dumps in process; target >= 0.5)"
    )
    print(
        f"curve_streamed_csv_{engine}: ratio={bare_csv / streamed:.2f} (ours {streamed:.2f} s over HTTP / "
        f"baseline {bare_csv:.2f} s select + csv in process; target >= 0.5)"
    )
    print(
        f"curve_server_rss_{engine}: grew {peak - before:.1f} MB serving all of the above "
        f"(peak {peak:.0f} MB, after warm-up {before:.0f} MB; target < 50 MB)"
    )


if __name__ == "__main__":
    main()
