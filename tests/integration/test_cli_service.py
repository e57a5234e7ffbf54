"""`hyperlaw study|runs|import|fits` against a real server (--url: over HTTP, with a bearer token)
and on the database directly (--database-url: embedded), on SQLite and PostgreSQL, every test of a
command run both ways on the same database: studies created, listed, shown; CSV imports (and
their refusals); runs listed, watched while a real worker pool trains them, cancelled one by one,
by sweep, by plan and by study (POST /v1/studies/{id}/runs/cancel, tested here too); fits of every
law kind created (inline, and in the background with --wait), listed and shown. Every table fits
in 80 columns, and bad input or an unreachable server is one line on stderr and exit code 2."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

import fitting
from app import curves, runs, studies, tokens
from app.cli import cli
from app.settings import Settings
from app.worker import queue
from app.worker.pool import Pool
from tests.integration.helpers import TINY_SPEC, worker_settings
from tests.integration.server import ServerThread, free_port
from tests.integration.test_law_kinds import _curve, _sweep, chinchilla
from tests.integration.test_reports import loss_rows

CLI = [sys.executable, "-m", "app.cli"]
WIDTH = 80
INLINE = 20  # the server's HYPERLAW_FIT_INLINE_MAX_BOOTSTRAP here: more runs in the background
STATUSES = ("queued", "running", "done", "failed", "diverged", "cancelled")


@pytest.fixture(scope="module")
def server(db_url):
    settings = Settings(
        database_url=db_url,
        fit_inline_max_bootstrap=INLINE,
        heartbeat_interval_s=0.3,
        heartbeat_timeout_s=30,
        worker_poll_s=0.2,
    )
    with ServerThread(settings) as running:
        yield running


@pytest.fixture
def token(database) -> str:
    with database.transaction() as session:
        return tokens.create_token(session=session, scope="write")[0]


def invoke(args, env: dict[str, str] | None = None):
    """The CLI in this process at 80 columns: never a traceback, never a table line wider than 80."""
    result = CliRunner().invoke(cli, [str(a) for a in args], env={"COLUMNS": str(WIDTH), **(env or {})})
    assert "Traceback" not in result.output, result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    tables = [] if "--json" in args else result.stdout.splitlines()  # JSON is one line, of any length
    too_wide = [line for line in tables if len(line) > WIDTH]
    assert not too_wide, too_wide
    return result


class Hyperlaw:
    """`hyperlaw ARGS` aimed at the server (http) or the database (embedded)."""

    def __init__(self, mode: str, target: list[str]) -> None:
        self.mode, self.target = mode, target

    def __call__(self, *args, env: dict[str, str] | None = None):
        result = invoke([*args, *self.target], env)
        assert result.exit_code == 0, (args, result.output)
        return result

    def json(self, *args):
        return json.loads(self(*args, "--json").stdout)

    def refused(self, *args, message: str, prefix: bool = False) -> None:
        """Exit code 2 with one line on stderr: `error: message` (or starting with it)."""
        result = invoke([*args, *self.target])
        assert result.exit_code == 2, (args, result.output)
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1, result.stderr
        line = result.stderr.rstrip("\n")
        assert line.startswith(f"error: {message}") if prefix else line == f"error: {message}", line


@pytest.fixture(params=["http", "embedded"])
def hl(request, server, token, db_url) -> Hyperlaw:
    if request.param == "http":
        return Hyperlaw("http", ["--url", server.url, "--token", token])
    return Hyperlaw("embedded", ["--database-url", db_url])


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def queue_runs(database, study_id: int, count: int, key: str | None = None, **spec) -> list[int]:
    with database.transaction() as session:
        study = studies.get_study(session=session, study_id=study_id)
        specs = [{**TINY_SPEC, "seed": i, **spec} for i in range(count)]
        created, _ = runs.submit_runs(session=session, study=study, specs=specs, idempotency_key=key)
        return [r.id for r in created]


def statuses(database, ids: list[int]) -> list[str]:
    with database.transaction() as session:
        return [runs.get_run(session=session, run_id=i).status for i in ids]


def row_of(text: str, run_id: int) -> str:
    """The table line of a run: it starts with the run's id, and holds the whole row."""
    [line] = [line for line in text.splitlines() if line.split() and line.split()[0] == str(run_id)]
    return line


# ---------------------------------------------------------------------------- studies


def test_study_create_list_show(hl):
    created = hl.json(
        "study", "create", "ladder", "--defaults", '{"seq_len": 64}', "--description", "a size ladder"
    )
    assert created["name"] == "ladder" and created["defaults"] == {"seq_len": 64}
    assert created["kind"] == "proxy" and created["description"] == "a size ladder"
    other = hl(
        "study", "create", "other", "--data", "synthetic:markov", "--parametrization", "mup",
        "--base-d-model", "64",
    ).stdout  # fmt: skip
    assert other == f"created study 'other' (id {created['id'] + 1})\n"

    listed = hl("study", "list").stdout
    assert "ladder" in row_of(listed, created["id"]) and "other" in row_of(listed, created["id"] + 1)
    # id, name, kind, data, parametrization, created
    assert row_of(listed, created["id"]).split()[2:5] == ["proxy", "synthetic:markov", "sp"]
    assert row_of(listed, created["id"] + 1).split()[2:5] == ["proxy", "synthetic:markov", "mup"]
    assert [s["name"] for s in hl.json("study", "list")] == ["ladder", "other"]

    shown = hl.json("study", "show", "ladder")
    assert (
        shown["id"] == created["id"] and shown["runs"] == dict.fromkeys(STATUSES, 0) and shown["fits"] == []
    )
    text = hl("study", "show", str(created["id"])).stdout
    assert f"study ladder (id {created['id']}, proxy)" in text
    assert "a size ladder" in text and 'defaults {"seq_len": 64}' in text and "runs: none" in text

    hl.refused(
        "study", "create", "ladder",
        message="a study named 'ladder' already exists: pick another name or use that study",
    )  # fmt: skip
    hl.refused("study", "create", "", message="name: String should have at least 1 character")
    hl.refused("study", "create", "x", "--defaults", "{", message="--defaults is not valid JSON", prefix=True)
    hl.refused(
        "study", "create", "x", "--defaults", "[1]",
        message="--defaults must be a JSON object of RunSpec fields, such as '{\"seq_len\": 64}'",
    )  # fmt: skip
    hl.refused("study", "show", "nope", message="study 'nope' does not exist")
    hl.refused("study", "show", "99999", message="study '99999' does not exist")
    # Options not given are not sent: a data source given once, in --defaults, is no clash.
    assert hl.json("study", "create", "py", "--defaults", '{"data": "pystdlib"}')["defaults"] == {
        "data": "pystdlib"
    }


def test_study_show_counts_runs_and_lists_fits(hl, tmp_path):
    hl("study", "create", "counted")
    hl("import", "counted", write_csv(tmp_path / "runs.csv", loss_rows()))
    fit = hl.json("fits", "create", "counted", "--law", "chinchilla", "--bootstrap", "5")
    shown = hl.json("study", "show", "counted")
    assert shown["runs"]["done"] == 12 and [f["id"] for f in shown["fits"]] == [fit["id"]]
    text = hl("study", "show", "counted").stdout
    assert "runs: 12 done" in text
    assert row_of(text, fit["id"]).split()[1:4] == ["chinchilla", "done", "12"]


# ---------------------------------------------------------------------------- import


def test_import_a_csv(hl, tmp_path):
    study = hl.json("study", "create", "imported")["id"]
    table = write_csv(tmp_path / "runs.csv", loss_rows())
    said = hl("import", "imported", table).stdout
    assert said.startswith(f"imported 12 runs into study 'imported' (id {study}): ids ")
    first, last = (int(i) for i in said.strip().rsplit(" ", 1)[1].split(".."))
    assert last - first == 11
    page = hl.json("runs", "list", "--study", "imported", "--status", "done")
    assert page["total"] == 12 and [r["id"] for r in page["items"]] == list(range(first, last + 1))
    assert [r["loss"] for r in page["items"]] == pytest.approx([r["loss"] for r in loss_rows()])

    hl.refused("import", "imported", table, message="this data was already imported", prefix=True)
    again = hl.json("import", "imported", table, "--allow-duplicates")
    assert again["count"] == 12

    renamed = write_csv(
        tmp_path / "renamed.csv", [{"params": r["N"], "toks": r["D"], "L": r["loss"]} for r in loss_rows(1)]
    )
    hl.refused("import", "imported", renamed, message="the CSV has no column 'N'", prefix=True)
    assert (
        hl.json("import", "imported", renamed, "--n-col", "params", "--d-col", "toks", "--loss-col", "L")[
            "count"
        ]
        == 12
    )
    missing = tmp_path / "missing.csv"
    hl.refused("import", "imported", missing, message=f"cannot read {missing}: No such file or directory")
    hl.refused("import", "nope", table, message="study 'nope' does not exist")


# ---------------------------------------------------------------------------- runs


def test_runs_list_pages_and_filters(hl, database):
    study = hl.json("study", "create", "listed")["id"]
    ids = queue_runs(database, study, 5, lr=1e-3)
    text = hl("runs", "list", "--study", "listed").stdout
    for run_id in ids:
        assert row_of(text, run_id).split()[1:3] == ["queued", "4.66k"]
    assert "runs 1-5 of 5" in text
    page = hl.json("runs", "list", "--study", str(study), "--limit", "2", "--offset", "1")
    assert [r["id"] for r in page["items"]] == ids[1:3] and page["total"] == 5
    assert (
        "runs 1-2 of 5; the next: --offset 2"
        in hl("runs", "list", "--study", "listed", "--limit", "2").stdout
    )
    assert hl.json("runs", "list", "--status", "done")["total"] == 0
    assert "no runs" in hl("runs", "list", "--status", "done").stdout
    everything = hl("runs", "list").stdout  # all studies: a study column
    assert row_of(everything, ids[0]).split()[1:3] == [str(study), "queued"]

    hl.refused("runs", "list", "--status", "bogus", message="--status 'bogus' is unknown", prefix=True)
    hl.refused("runs", "list", "--limit", "0", message="--limit must be between 1 and 1000, got 0")
    hl.refused("runs", "list", "--study", "nope", message="study 'nope' does not exist")


def test_runs_cancel_one_a_sweep_a_plan_and_a_study(hl, database):
    study = hl.json("study", "create", "sweeps")["id"]
    rest = queue_runs(database, study, 2)
    with database.transaction() as session:  # the first one running
        assert queue.claim(session=session, worker_id="w", study_id=study).id == rest[0]
    sweep = queue_runs(database, study, 3, key="sweep-1")
    plan = queue_runs(database, study, 3, key="plan-1")

    assert hl("runs", "cancel", sweep[0]).stdout == f"cancelled run {sweep[0]}\n"
    hl.refused(
        "runs", "cancel", sweep[0],
        message=f"run {sweep[0]} is already cancelled; only queued or running runs can be cancelled",
    )  # fmt: skip
    said = hl("runs", "cancel", "--sweep", "sweep-1", "--study", "sweeps").stdout
    assert said == f"cancelled 2 runs of study 'sweeps' (id {study}): {sweep[1]}, {sweep[2]}\n"
    by_ids = hl.json("runs", "cancel", "--plan", f"{plan[0]}..{plan[-1]}")  # the study is the runs'
    assert by_ids == {"study_id": study, "count": 3, "ids": plan}
    said = hl("runs", "cancel", "--study", str(study)).stdout
    assert said == f"cancelled 2 runs of study 'sweeps' (id {study}): {rest[0]}, {rest[1]}\n"
    assert statuses(database, rest + sweep + plan) == ["cancelled"] * 8
    with database.transaction() as session:  # the running one's worker stops at its next heartbeat
        assert queue.heartbeat(session=session, worker_id="w", run_ids=[rest[0]]) == set()
    said = hl("runs", "cancel", "--study", "sweeps").stdout
    assert said == f"nothing to cancel: no queued or running run of study 'sweeps' (id {study}) matches\n"

    hl.refused("runs", "cancel", message="say what to cancel: a run id, --sweep, --plan or --study")
    hl.refused("runs", "cancel", "99999", message="run 99999 does not exist")
    hl.refused(
        "runs", "cancel", "--sweep", "sweep-1",
        message="--sweep by Idempotency-Key needs --study (a key names a submission within one study)",
    )  # fmt: skip
    hl.refused("runs", "cancel", "--sweep", "9..3", message="--sweep 9..3: the first id is after the last")
    hl.refused("runs", "cancel", "--sweep", "a", "--plan", "b", message="give --sweep or --plan, not both")
    hl.refused(
        "runs", "cancel", sweep[0], "--study", "sweeps",
        message="a run id names one run: leave out --sweep, --plan and --study",
    )  # fmt: skip
    hl.refused("runs", "cancel", "--study", "nope", message="study 'nope' does not exist")


def test_bulk_cancel_route(server, database, token):
    """POST /v1/studies/{id}/runs/cancel: a write; all live runs of the study, or a submission's by
    key or by id range (the filters combine); finished runs and other studies' runs untouched."""
    with database.transaction() as session:
        read_token = tokens.create_token(session=session, scope="read")[0]
        first = studies.create_study(session=session, name="first").id
        second = studies.create_study(session=session, name="second").id
    loose = queue_runs(database, first, 2)
    with database.transaction() as session:  # the first one finished
        assert queue.claim(session=session, worker_id="w", study_id=first).id == loose[0]
        assert queue.finish(session=session, run_id=loose[0], worker_id="w", status="done", loss=3.0)
    keyed = queue_runs(database, first, 3, key="k")
    others = queue_runs(database, second, 2)
    url = f"{server.url}/v1/studies/{first}/runs/cancel"
    assert httpx.post(url, json={}).status_code == 401
    assert httpx.post(url, json={}, headers={"Authorization": f"Bearer {read_token}"}).status_code == 403
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as api:
        assert api.post(f"{server.url}/v1/studies/99999/runs/cancel", json={}).status_code == 404
        refused = api.post(url, json={"first_id": 5, "last_id": 4})
        assert refused.status_code == 422 and "first_id 5 is after last_id 4" in refused.text
        both = api.post(url, json={"idempotency_key": "k", "first_id": keyed[1], "last_id": others[-1]})
        assert both.json() == {"study_id": first, "count": 2, "ids": keyed[1:]}
        assert api.post(url, json={"idempotency_key": "other"}).json()["count"] == 0
        rest = api.post(url)  # no body: every live run of the study
        assert rest.status_code == 200
        assert rest.json() == {"study_id": first, "count": 2, "ids": [loose[1], keyed[0]]}
    assert statuses(database, loose + keyed) == ["done"] + ["cancelled"] * 4
    assert statuses(database, others) == ["queued", "queued"]
    spec = httpx.get(f"{server.url}/openapi.json").json()
    operation = spec["paths"]["/v1/studies/{study_id}/runs/cancel"]["post"]
    assert operation["security"] and operation["responses"]["200"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/Cancelled"}


@pytest.mark.parametrize("mode", ["http", "embedded"])
def test_runs_watch_follows_a_sweep_while_it_trains(mode, server, token, db_url, database, tmp_path):
    """`runs watch --json` from before the pool starts until every run is done: the runs are seen
    running with a live loss and tokens/s; then the table (80 columns) of the finished sweep."""
    target = ["--url", server.url, "--token", token] if mode == "http" else ["--database-url", db_url]
    study = Hyperlaw(mode, target).json("study", "create", "watched")["id"]
    ids = queue_runs(database, study, 2, tokens=256 * 300, eval_every_tokens=256 * 50, eval_tokens=256)
    watch = subprocess.Popen(
        [*CLI, "runs", "watch", "--study", "watched", "--interval", "0.2", "--json", *target],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "80"},
    )  # fmt: skip
    try:
        first = json.loads(watch.stdout.readline())
        assert first["counts"]["queued"] == 2
        Pool(worker_settings(database, tmp_path), concurrency=2).run(exit_when_idle=True)
        out, err = watch.communicate(timeout=120)
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0 and err == "", err
    frames = [first] + [json.loads(line) for line in out.splitlines()]
    assert frames[-1]["counts"]["done"] == 2 and [r["status"] for r in frames[-1]["runs"]] == ["done", "done"]
    running = [r for f in frames for r in f["runs"] if r["status"] == "running"]
    live = [r for r in running if r["loss"] is not None]  # from the curve's latest point
    assert live and all(r["loss"] > 0 and r["tokens_per_s"] > 0 for r in live)
    assert any(r["progress"] is not None and 0 < r["progress"] < 1 for r in running)

    table = invoke(["runs", "watch", "--study", str(study), *target])
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[0].rstrip() == f"study {study}: 2 done"
    for run_id in ids:
        cells = row_of(table.stdout, run_id).split()
        assert cells[1] == "done" and cells[-4:-2] == ["██████████", "100%"] and float(cells[-1]) > 0


def test_runs_watch_shows_the_latest_finished_runs(hl, tmp_path):
    """Of a finished study, the last --rows runs (read as the count and the last page, whatever the
    study's size) and how many are left out; it returns at once."""
    hl("study", "create", "finished")
    ids = hl.json("import", "finished", write_csv(tmp_path / "runs.csv", loss_rows()))["ids"]
    text = hl("runs", "watch", "--study", "finished", "--rows", "3").stdout
    assert text.splitlines()[0].rstrip() == "study finished: 12 done"
    assert [row_of(text, i).split()[1] for i in ids[-3:]] == ["done"] * 3
    assert not any(line.split()[:1] == [str(ids[0])] for line in text.splitlines())
    assert "not shown: 9 done (--rows)" in text
    [frame] = [
        json.loads(line)
        for line in hl("runs", "watch", "--study", "finished", "--rows", "3", "--json").stdout.splitlines()
    ]
    assert frame["counts"] == {**dict.fromkeys(STATUSES, 0), "done": 12}
    assert [r["id"] for r in frame["runs"]] == ids[-3:]
    hl.refused("runs", "watch", "--rows", "0", message="--rows must be between 1 and 1000, got 0")


def test_runs_watch_stops_on_ctrl_c(server, token, database):
    with database.transaction() as session:
        study = studies.create_study(session=session, name="waiting").id
    queue_runs(database, study, 1)  # no worker: it stays queued
    # The child's SIGINT at its default: a suite started in the background by a non-interactive shell
    # (`make test &`) hands its children SIGINT ignored, and Python then never raises KeyboardInterrupt.
    watch = subprocess.Popen(
        [*CLI, "runs", "watch", "--study", "waiting", "--interval", "0.2", "--json", "--url", server.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        assert json.loads(watch.stdout.readline())["counts"]["queued"] == 1
        watch.send_signal(signal.SIGINT)
        _, err = watch.communicate(timeout=60)
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 130 and err == "stopped watching; the runs go on\n"


# ---------------------------------------------------------------------------- fits


def _loss_data(tmp_path: Path) -> tuple[list[str], str]:
    return ["--n-col", "N"], str(write_csv(tmp_path / "loss.csv", loss_rows()))


def _lr_data(tmp_path: Path) -> tuple[list[str], str]:
    least = fitting.minimum("lr_opt", "steplaw")
    scales = [(n, 20 * n * r) for n in (1e8, 3e8, 1e9) for r in (1, 4)][: least.groups]
    rows = [
        row
        for n, d in scales
        for row in _sweep(n, d, max(least.runs_per_group, least.values_per_group), "lr")
    ]
    return ["--lr-col", "lr", "--batch-col", "batch"], str(write_csv(tmp_path / "lr.csv", rows))


def _isoflop_data(tmp_path: Path) -> tuple[list[str], str]:
    least = fitting.minimum("frontier_isoflop")
    rows = []
    for budget in np.logspace(18, 21, least.groups):
        centre = 0.1 * (budget / 6) ** 0.5
        for n_params in centre * np.exp(np.linspace(-1.5, 1.5, least.runs_per_group)):
            rows.append(
                {
                    "N": n_params,
                    "D": budget / (6 * n_params),
                    "loss": chinchilla(n_params, budget / (6 * n_params)),
                }
            )
    return [], str(write_csv(tmp_path / "isoflop.csv", rows))


def _batch_data(tmp_path: Path) -> tuple[list[str], str]:
    batches = np.geomspace(2.5e4, 1.8e6, fitting.minimum("critical_batch").groups)
    rows = [{"N": 1e6, "D": 1e9, "loss": 2.05, "batch": b} for b in batches]
    return ["--batch-col", "batch"], str(write_csv(tmp_path / "batch.csv", rows))


@pytest.mark.parametrize(
    ("law", "data", "options"),
    [
        ("chinchilla", _loss_data, []),
        ("lr_opt", _lr_data, ["--form", "steplaw"]),
        ("frontier_isoflop", _isoflop_data, []),
        ("critical_batch", _batch_data, []),
    ],
)
def test_fits_of_every_law_kind(hl, database, tmp_path, law, data, options):
    """One law of each kind (loss, optimum, frontier, critical batch) fitted on the service from a
    CSV the CLI imported, then listed and shown."""
    study = hl.json("study", "create", f"kind-{law}")["id"]
    columns, table = data(tmp_path)
    imported = hl.json("import", str(study), table, *columns)
    if law == "critical_batch":  # its runs need their loss curves
        rng = np.random.default_rng(0)
        with database.transaction() as session:
            for run_id in imported["ids"]:
                batch = runs.get_run(session=session, run_id=run_id).batch_tokens
                curves.write_points(session=session, run_id=run_id, points=_curve(batch, rng))

    shown = hl("fits", "create", f"kind-{law}", "--law", law, "--bootstrap", "10", *options).stdout
    fit = hl.json("fits", "list", f"kind-{law}")[-1]
    assert fit["law"] == law and fit["status"] == "done" and fit["n_points"] == imported["count"], fit
    assert shown.splitlines()[0] == f"fit {fit['id']} of study {study}: {law}, done"
    for name in fit["params"]:
        assert any(line.split()[:1] == [name] for line in shown.splitlines()), (name, shown)
    assert hl.json("fits", "show", str(fit["id"])) == fit
    assert hl("fits", "show", str(fit["id"])).stdout == shown
    listed = hl("fits", "list", str(study)).stdout
    assert row_of(listed, fit["id"]).split()[1:5] == [law, "done", str(imported["count"]), "10"]
    assert hl.json("fits", "list", str(study), "--law", "kaplan") == []


def test_fits_in_the_background_with_wait(hl, tmp_path):
    """More bootstrap replicates than the inline limit: queued for a fit worker (the server's), and
    `--wait` waits for it; embedded, --wait computes it in this process."""
    hl("study", "create", "background")
    hl("import", "background", write_csv(tmp_path / "runs.csv", loss_rows()))
    queued = hl("fits", "create", "background", "--bootstrap", str(INLINE + 5)).stdout
    assert queued.startswith("fit ") and (
        " is queued for a fit worker: hyperlaw fits show " in queued
        or ", done" in queued
        or " is running" in queued
    ), queued
    waited = hl.json(
        "fits", "create", "background", "--bootstrap", str(INLINE + 10), "--wait", "--interval", "0.1"
    )
    assert waited["status"] == "done" and waited["n_bootstrap"] == INLINE + 10 and waited["ci95"]
    text = hl(
        "fits", "create", "background", "--law", "kaplan", "--bootstrap", str(INLINE + 1), "--wait"
    ).stdout
    assert ": kaplan, done" in text.splitlines()[0] and f"{INLINE + 1} bootstrap replicates" in text


def test_fits_bad_input(hl, tmp_path):
    hl("study", "create", "few")
    hl.refused(
        "fits", "create", "few", "--law", "nope", message="law 'nope' is unknown: use one of", prefix=True
    )
    hl.refused(
        "fits", "create", "few", message="the chinchilla law needs at least 7 finished runs", prefix=True
    )
    hl.refused(
        "fits", "create", "few", "--runs", "x", message="--runs takes run ids such as 1,2,5..9, got 'x'"
    )
    hl.refused(
        "fits", "create", "few", "--bootstrap", "-1",
        message="bootstrap: Input should be greater than or equal to 0",
    )  # fmt: skip
    hl.refused(
        "fits", "create", "few", "--law", "chinchilla", "--form", "steplaw",
        message="form applies to lr_opt and batch_opt, not to chinchilla",
    )  # fmt: skip
    hl.refused("fits", "create", "nope", message="study 'nope' does not exist")
    hl.refused("fits", "show", "99999", message="fit 99999 does not exist")
    hl.refused("fits", "list", "nope", message="study 'nope' does not exist")


# ---------------------------------------------------------------------------- both ways alike; bad targets


def test_the_server_and_the_database_answer_alike(server, token, db_url, database, tmp_path):
    http = Hyperlaw("http", ["--url", server.url, "--token", token])
    embedded = Hyperlaw("embedded", ["--database-url", db_url])
    http("study", "create", "alike")
    embedded("import", "alike", write_csv(tmp_path / "runs.csv", loss_rows()))
    fit = http.json("fits", "create", "alike", "--bootstrap", "5")
    for args in (
        ["study", "show", "alike"],
        ["study", "list"],
        ["runs", "list", "--study", "alike"],
        ["fits", "show", str(fit["id"])],
        ["fits", "list", "alike"],
    ):
        assert http.json(*args) == embedded.json(*args), args
        assert http(*args).stdout == embedded(*args).stdout, args


def test_the_token_comes_from_the_environment(server, token):
    target = Hyperlaw("http", ["--url", server.url])
    assert (
        invoke(["study", "create", "env", "--url", server.url], env={"HYPERLAW_TOKEN": token}).exit_code == 0
    )
    target.refused(
        "study", "create", "no-token",
        message=f"{server.url} answered 401: this needs a bearer token with the write scope "
        "(hyperlaw token create --scope write)",
    )  # fmt: skip
    assert [s["name"] for s in target.json("study", "list")] == ["env"]  # reads are public here


@pytest.mark.parametrize(
    "args",
    [
        ["study", "list"],
        ["study", "create", "x"],
        ["study", "show", "x"],
        ["runs", "list"],
        ["runs", "watch"],
        ["runs", "cancel", "1"],
        ["fits", "create", "x"],
        ["fits", "list", "x"],
        ["fits", "show", "1"],
    ],
)
def test_an_unreachable_server_is_one_line(args, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    Hyperlaw("http", ["--url", url]).refused(*args, message=f"cannot reach {url}: ", prefix=True)


def test_bad_targets_are_one_line(tmp_path, db_url):
    table = write_csv(tmp_path / "runs.csv", loss_rows())
    url = f"http://127.0.0.1:{free_port()}"
    Hyperlaw("http", ["--url", url]).refused(
        "import", "x", table, message=f"cannot reach {url}: ", prefix=True
    )
    Hyperlaw("both", ["--url", url, "--database-url", db_url]).refused(
        "study", "list", message="give --url (a server) or --database-url (the database directly), not both"
    )
    Hyperlaw("http", ["--url", "localhost:8000"]).refused(
        "study",
        "list",
        message="--url must be a server's address such as http://127.0.0.1:8000, got 'localhost:8000'",
    )
    Hyperlaw("embedded", ["--database-url", "mysql://db/x"]).refused(
        "study", "list", message="database_url 'mysql://db/x' is neither SQLite nor PostgreSQL", prefix=True
    )
    empty = f"sqlite:///{tmp_path / 'empty.db'}"  # never migrated
    Hyperlaw("embedded", ["--database-url", empty]).refused(
        "study", "list", message="cannot read the database", prefix=True
    )
    Hyperlaw("embedded", ["--database-url", db_url]).refused(
        "runs", "watch", "--interval", "0", message="--interval must be a positive number of seconds, got 0"
    )


def test_tables_stay_readable_with_long_values(hl, database):
    """A long study name folds within its column; a run row stays on one line at 80 columns."""
    long_name = "a-study-with-a-rather-long-name-" * 3
    study = hl.json("study", "create", long_name)["id"]
    [run_id] = queue_runs(database, study, 1, lr=3.16e-4, batch_tokens=2048, tokens=2_000_000)
    lines = hl("study", "list").stdout.splitlines()
    at = [i for i, line in enumerate(lines) if line.split()[:1] == [str(study)]][0]
    start = lines[at].index("a-study")
    width = len(lines[at][start:].split()[0])
    folded = [line[start : start + width].strip() for line in lines[at:]]
    assert "".join(folded) == long_name and lines[at].split()[2:5] == ["proxy", "synthetic:markov", "sp"]
    row = row_of(hl("runs", "list", "--study", str(study)).stdout, run_id)
    assert row.split()[1:] == ["queued", "4.66k", "2M", "0.00032", "2.05k", "-", "-"]
