"""`hyperlaw report` on SQLite and PostgreSQL, beside a real server holding the same database: a
study's HTML report with the prediction at a target, one fit's CSV, the PDF, and JSON equal to the
server's; --batch and --optimizer give the LR at that batch, as the report route does; bad input
(unknown study, format or optimizer, half a target, a batch without a target, a fit of another
study, a file that cannot be written) is one line on stderr and exit code 2; `hyperlaw --version`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.reports import version
from app.settings import Settings
from tests.integration.server import ServerThread, inline_fit, write_client
from tests.integration.test_mup_lr_law import BASE_WIDTH, sweep_rows
from tests.integration.test_reports import loss_rows

CLI = [sys.executable, "-m", "app.cli"]


@pytest.fixture(scope="module")
def server(db_url):
    with ServerThread(Settings(database_url=db_url)) as running:
        yield running


@pytest.fixture
def study(server, database):
    """A study "cli" of 12 imported runs with a chinchilla fit: (study id, fit)."""
    with write_client(server, database) as api:
        study = api.post("/v1/studies", json={"name": "cli"}).json()["id"]
        api.post(f"/v1/studies/{study}/import", json=loss_rows())
        other = api.post("/v1/studies", json={"name": "other"}).json()["id"]
        api.post(f"/v1/studies/{other}/import", json=loss_rows(seed=1))
        other_fit = inline_fit(api, other, {"law": "chinchilla"}, bootstrap=0)
        return study, inline_fit(api, study, {"law": "chinchilla"}, bootstrap=30), other_fit


def test_reports_written_in_every_format(server, study, db_url, tmp_path: Path):
    study_id, fit, _ = study
    html = tmp_path / "study.html"
    result = subprocess.run(
        [*CLI, "report", "cli", "--n-params", "1e9", "--tokens", "2e10", "--format", "html", "-o", str(html),
         "--database-url", db_url],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {html} ({html.stat().st_size} bytes)"
    page = html.read_text()
    assert "Prediction for N = 1.000e+09 parameters, D = 2.000e+10 tokens" in page
    assert page.count('<img src="data:image/png;base64,') == 5

    table = tmp_path / "fit.csv"
    runner = CliRunner()
    done = runner.invoke(cli, ["report", str(study_id), "--fit", str(fit["id"]), "--format", "csv", "-o", str(table), "--database-url", db_url])  # fmt: skip
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(io.StringIO(table.read_text())))
    assert [int(r["run_id"]) for r in rows] == fit["run_ids"]
    assert all(float(r["residual"]) == pytest.approx(float(r["loss"]) - float(r["fitted"])) for r in rows)

    pdf = tmp_path / "study.pdf"
    assert (
        runner.invoke(
            cli, ["report", "cli", "--format", "pdf", "-o", str(pdf), "--database-url", db_url]
        ).exit_code
        == 0
    )
    assert pdf.read_bytes().startswith(b"%PDF-")

    data = tmp_path / "study.json"
    assert (
        runner.invoke(
            cli, ["report", "cli", "--format", "json", "-o", str(data), "--database-url", db_url]
        ).exit_code
        == 0
    )
    served = httpx.get(f"{server.url}/v1/studies/{study_id}/report", params={"format": "json"}).json()
    written = json.loads(data.read_text())
    for report in (served, written):
        report.pop("generated_at")
    assert written == served


def test_a_report_with_batch_and_optimizer_answers_the_lr_at_that_batch(server, database, db_url, tmp_path):
    """--batch and --optimizer reach the study report's prediction, as the report route's query does:
    the same JSON as the server's, and an LR four times the optimum at four times the sweeps' batch
    (the linear rule of SGD); the HTML names the μP study's parametrization and its LR fit's note."""
    with write_client(server, database) as api:
        study = api.post(
            "/v1/studies", json={"name": "mup", "parametrization": "mup", "base_d_model": BASE_WIDTH}
        ).json()["id"]
        api.post(f"/v1/studies/{study}/import", json=sweep_rows(np.random.default_rng(0)))
        fit = inline_fit(api, study, {"law": "lr_opt"}, bootstrap=20)
    target = {"n_params": 1e6, "tokens": 1e10, "batch": 4 * 4096, "optimizer": "sgd"}
    given = [f"--{k.replace('_', '-')}={v}" for k, v in target.items()]
    data, page = tmp_path / "study.json", tmp_path / "study.html"
    runner = CliRunner()
    for format, out in (("json", data), ("html", page)):
        done = runner.invoke(
            cli, ["report", "mup", *given, "--format", format, "-o", str(out), "--database-url", db_url]
        )
        assert done.exit_code == 0, done.output
    written = json.loads(data.read_text())
    assert written["target"] == target
    lr, moved = written["prediction"]["lr_opt"], written["prediction"]["lr_at_batch"]
    assert moved["optimizer"] == "sgd" and moved["value"] == pytest.approx(4 * lr["value"])
    served = httpx.get(f"{server.url}/v1/studies/{study}/report", params={"format": "json", **target}).json()
    for report in (served, written):
        report.pop("generated_at")
    assert written == served
    html = page.read_text()
    assert "learning rate at batch 1.638e+04 tokens (linear rule for sgd)" in html
    assert f"parametrization mup (base width d_model={BASE_WIDTH};" in html
    assert f"<strong>Note.</strong> {fit['context']['note']}</p>" in html


def test_bad_input_is_one_line_and_exit_2(study, db_url, tmp_path: Path):
    study_id, fit, other_fit = study
    runner = CliRunner()
    out = str(tmp_path / "r.html")
    cases = [
        (["report", "nope", "-o", out], "error: study 'nope' does not exist"),
        (["report", "cli", "-o", out, "--format", "docx"], "error: --format 'docx' is unknown: use one of html, pdf, json, csv"),
        (["report", "cli", "-o", out, "--n-params", "1e9"], "error: a prediction needs both --n-params and --tokens"),
        (["report", "cli", "-o", out, "--n-params", "-5", "--tokens", "1e9"], "error: --n-params must be a positive number, got -5"),
        (["report", "cli", "-o", out, "--fit", str(other_fit["id"])],
         f"error: fit {other_fit['id']} belongs to study 'other' (id {other_fit['study_id']}), not 'cli'"),
        (["report", "cli", "-o", out, "--fit", "999999"], "error: fit 999999 does not exist"),
        (["report", "cli", "-o", out, "--batch", "4096"], "error: --batch is for a prediction: give --n-params and --tokens too"),
        (["report", "cli", "-o", out, "--n-params", "1e9", "--tokens", "1e10", "--batch", "0"], "error: --batch must be a positive number, got 0"),
        (["report", "cli", "-o", out, "--n-params", "1e9", "--tokens", "1e10", "--batch", "4096", "--optimizer", "lion"],
         "error: --optimizer 'lion' is unknown: use adam or sgd"),
        (["report", "cli", "-o", str(tmp_path / "missing" / "r.html")],
         f"error: cannot write {tmp_path / 'missing' / 'r.html'}: No such file or directory"),
    ]  # fmt: skip
    for args, message in cases:
        result = runner.invoke(cli, [*args, "--database-url", db_url])
        assert result.exit_code == 2, (args, result.output)
        assert result.output.strip() == message, args
    assert not (tmp_path / "r.html").exists()


def test_version():
    result = subprocess.run([*CLI, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == f"hyperlaw {version()}"
