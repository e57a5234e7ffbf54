"""`hyperlaw report` on SQLite and PostgreSQL, beside a real server holding the same database: a
study's HTML report with the prediction at a target, one fit's CSV, the PDF, and JSON equal to the
server's; bad input (unknown study or format, half a target, a fit of another study, a file that
cannot be written) is one line on stderr and exit code 2; `hyperlaw --version`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.reports import version
from app.settings import Settings
from tests.integration.server import ServerThread, inline_fit, write_client
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
