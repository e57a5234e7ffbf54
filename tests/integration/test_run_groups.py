"""Checkpoints of one run are resampled together: rows imported with a group (a CSV column named by
`group_col` / `--group-col`, a `group` or `run` key of a JSON row) keep it as the run's group_key, and a
loss fit over them bootstraps whole runs, exactly as fitting.fit(..., group=) does on the same rows.

The synthetic checkpoints come from a known Chinchilla law with an offset per run, so the checkpoints
of a run move together and the grouped interval of E (and alpha) is wider than the row bootstrap's.
On real SQLite and PostgreSQL, through a real server and the CLI both ways.
"""

from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import fitting
from app import fits, runs, studies, tokens
from app.cli import cli
from app.db.tables import Fit
from app.law_kinds.base import draws_summary
from app.settings import Settings
from app.worker import queue
from tests.integration.server import ServerThread, inline_fit

E, A, ALPHA, B, BETA = 1.8, 400.0, 0.34, 410.0, 0.28
RUNS, CHECKPOINTS = 8, 6
BOOTSTRAP, SEED = 60, 3
GROUPED_NOTE = f"{RUNS * CHECKPOINTS} rows from {RUNS} runs: checkpoints of one run resampled together"


@cache
def checkpoints() -> tuple[tuple[float, float, float, str], ...]:
    """(N, D, loss, run) of 8 runs x 6 checkpoints: each run's losses lifted by its own offset (1%),
    with a little noise per checkpoint (0.1%)."""
    rng = np.random.default_rng(7)
    rows = []
    for r, n_params in enumerate(np.geomspace(2e7, 8e8, RUNS)):
        offset = rng.normal(0.0, 0.01)
        for k in range(1, CHECKPOINTS + 1):
            tokens_seen = 20.0 * n_params * k / CHECKPOINTS
            truth = E + A / n_params**ALPHA + B / tokens_seen**BETA
            loss = truth * np.exp(offset + rng.normal(0.0, 0.001))
            rows.append((float(n_params), float(tokens_seen), float(loss), f"r{r}"))
    return tuple(rows)


def write_checkpoints(path: Path) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["N", "D", "loss", "run"])
        writer.writerows((repr(n), repr(d), repr(loss), run) for n, d, loss, run in checkpoints())
    return path


@cache
def direct(grouped: bool) -> tuple[dict[str, float], dict[str, list[float]]]:
    """params and 95% intervals of fitting.fit on the same rows, seed and replicates."""
    n_params, tokens_seen, loss, run = (list(column) for column in zip(*checkpoints(), strict=True))
    result = fitting.fit(
        "chinchilla",
        N=n_params,
        D=tokens_seen,
        loss=loss,
        bootstrap=BOOTSTRAP,
        seed=SEED,
        group=run if grouped else None,
    )
    return draws_summary(result)


def width(intervals: dict[str, list[float]], name: str) -> float:
    lo, hi = intervals[name]
    return hi - lo


@pytest.fixture(scope="module")
def server(db_url):
    with ServerThread(Settings(database_url=db_url, fit_inline_max_bootstrap=BOOTSTRAP)) as running:
        yield running


def _study(api, name: str) -> int:
    response = api.post("/v1/studies", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _import(api, study: int, content: bytes, **params):
    return api.post(
        f"/v1/studies/{study}/import", params=params, content=content, headers={"Content-Type": "text/csv"}
    )


def test_a_grouped_import_is_fitted_as_fitting_fit_with_groups(api, tmp_path):
    content = write_checkpoints(tmp_path / "checkpoints.csv").read_bytes()
    grouped, plain = _study(api, "grouped"), _study(api, "plain")
    made = _import(api, grouped, content, group_col="run")
    assert made.status_code == 201, made.text
    assert made.json()["count"] == RUNS * CHECKPOINTS
    assert _import(api, plain, content).status_code == 201

    listed = api.get("/v1/runs", params={"study": grouped, "limit": 100}).json()["items"]
    assert [r["group_key"] for r in listed] == [row[3] for row in checkpoints()]
    assert {r["group_key"] for r in api.get("/v1/runs", params={"study": plain}).json()["items"]} == {None}

    fit = inline_fit(api, grouped, {"law": "chinchilla", "seed": SEED}, bootstrap=BOOTSTRAP)
    row_fit = inline_fit(api, plain, {"law": "chinchilla", "seed": SEED}, bootstrap=BOOTSTRAP)
    # The service's fit is fitting.fit's, to the last bit, with and without groups.
    assert (fit["params"], fit["ci95"]) == direct(True)
    assert (row_fit["params"], row_fit["ci95"]) == direct(False)
    assert fit["n_points"] == RUNS * CHECKPOINTS
    assert fit["context"] == {"runs": "best_per_size", "left_out": 0, "sweeps": 0, "groups": RUNS}
    assert row_fit["context"] == {"runs": "best_per_size", "left_out": 0, "sweeps": 0}
    assert GROUPED_NOTE in fit["warnings"] and GROUPED_NOTE not in row_fit["warnings"]
    # Checkpoints of one run share its offset: drawing them as independent runs understates E and alpha.
    assert width(fit["ci95"], "E") > 1.3 * width(row_fit["ci95"], "E")
    assert width(fit["ci95"], "alpha") > 1.3 * width(row_fit["ci95"], "alpha")
    assert abs(fit["params"]["E"] - E) < 0.1

    # The group column is part of what names an import: the same bytes again with it are a repeat,
    # into the study that holds them without it they are not.
    again = _import(api, grouped, content, group_col="run")
    assert again.status_code == 409 and "already imported" in again.text
    assert _import(api, plain, content, group_col="run").status_code == 201


def test_json_rows_name_their_run_and_bad_groups_are_refused(api):
    study = _study(api, "json")
    rows = [
        {"N": 1e7, "D": 2e8, "loss": 3.9, "run": "a"},
        {"N": 1e7, "D": 4e8, "loss": 3.7, "group": 17},
        {"N": 2e7, "D": 4e8, "loss": 3.5},
    ]
    made = api.post(f"/v1/studies/{study}/import", json={"runs": rows})
    assert made.status_code == 201, made.text
    keys = [api.get(f"/v1/runs/{i}").json()["group_key"] for i in made.json()["ids"]]
    assert keys == ["a", "17", None]

    listed = api.post(f"/v1/studies/{study}/import", json=[{"N": 1e7, "D": 2e8, "loss": 3.9, "run": [1]}])
    assert listed.status_code == 422
    assert "row 1, 'group' or 'run': [1] is not a run name" in listed.text
    long = _import(api, study, f"N,D,loss,run\n1e7,2e8,3.9,{'x' * 201}\n".encode(), group_col="run")
    assert long.status_code == 422 and "the CSV line 2, column 'run'" in long.text
    assert "longer than 200 characters" in long.text
    missing = _import(api, study, b"N,D,loss\n1e7,2e8,3.9\n", group_col="run")
    assert missing.status_code == 422 and "'run'" in missing.text
    # Text COPY must escape: a tab, a backslash and a line break inside a quoted cell come back whole.
    odd = "tab\there \\ and\nline"
    made = _import(api, study, ('N,D,loss,run\n1e7,2e8,3.9,"' + odd + '"\n').encode(), group_col="run")
    assert made.status_code == 201, made.text
    assert api.get(f"/v1/runs/{made.json()['ids'][0]}").json()["group_key"] == odd


@pytest.mark.parametrize("mode", ["http", "embedded"])
def test_the_cli_imports_groups_and_the_worker_fits_them(mode, server, database, db_url, tmp_path):
    with database.transaction() as session:
        token = tokens.create_token(session=session, scope="write")[0]
        study = studies.create_study(session=session, name=f"cli-{mode}").id
    target = ["--url", server.url, "--token", token] if mode == "http" else ["--database-url", db_url]
    path = write_checkpoints(tmp_path / "checkpoints.csv")
    args = ["import", f"cli-{mode}", str(path), "--group-col", "run", *target]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"imported {RUNS * CHECKPOINTS} runs into study 'cli-{mode}'")
    with database.transaction() as session:
        stored = runs.fittable_runs(session=session, study_id=study, run_ids=None)
        assert [r.group_key for r in stored] == [row[3] for row in checkpoints()]

    # The fit job, as a worker runs it: the same numbers as fitting.fit with the runs as groups.
    with database.transaction() as session:
        fit_id = fits.create_fit(
            session=session, study_id=study, law="chinchilla", bootstrap=BOOTSTRAP, seed=SEED
        ).id
        assert queue.claim(session=session, worker_id="w", jobs=Fit, job_id=fit_id)
    assert fits.run_fit(database, fit_id, worker_id="w") == "done"
    with database.transaction() as session:
        fit = fits.get_fit(session=session, fit_id=fit_id)
        assert (fit.params, fit.ci95) == direct(True)
        assert GROUPED_NOTE in fit.warnings

    repeated = CliRunner().invoke(cli, args)
    assert repeated.exit_code == 2 and "already imported" in repeated.stderr


def test_a_trained_run_is_its_own_group_beside_imported_checkpoints():
    """The loss kind labels a run without group_key by its id, so it never joins a group."""
    from app.db.tables import Run
    from app.law_kinds.loss import run_groups

    made = [Run(id=i, group_key=key) for i, key in [(1, "r0"), (2, "r0"), (3, None), (4, "3")]]
    assert run_groups(made) == ["group r0", "group r0", "run 3", "group 3"]
    assert run_groups([Run(id=1), Run(id=2)]) is None


@pytest.mark.slow
def test_gemstones_checkpoints_are_resampled_by_run(api, shared_data):
    """The Gemstones ladder (22 runs, 10 checkpoints each) imported with its run names fits as
    fitting.fit(..., group=run_name) does, and its E interval is wider than the row bootstrap's."""
    path = shared_data / "gemstones2025" / "wandb_df_for_fitting_hot.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    lines = ["N,D,loss,run_name"] + [
        f"{r['params_active_precise']!r},{r['tokens']!r},{r['final_loss']!r},{r['run_name']}" for r in records
    ]
    content = ("\n".join(lines) + "\n").encode()
    grouped, plain = _study(api, "gemstones"), _study(api, "gemstones-rows")
    assert _import(api, grouped, content, group_col="run_name").status_code == 201
    assert _import(api, plain, content).status_code == 201
    fit = inline_fit(api, grouped, {"law": "chinchilla", "seed": SEED}, bootstrap=BOOTSTRAP)
    row_fit = inline_fit(api, plain, {"law": "chinchilla", "seed": SEED}, bootstrap=BOOTSTRAP)
    assert fit["n_points"] == len(records) == 220 and fit["context"]["groups"] == 22
    result = fitting.fit(
        "chinchilla",
        N=[float(r["params_active_precise"]) for r in records],
        D=[float(r["tokens"]) for r in records],
        loss=[float(r["final_loss"]) for r in records],
        bootstrap=BOOTSTRAP,
        seed=SEED,
        group=[r["run_name"] for r in records],
    )
    assert (fit["params"], fit["ci95"]) == draws_summary(result)
    assert width(fit["ci95"], "E") > 1.4 * width(row_fit["ci95"], "E")
