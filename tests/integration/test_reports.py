"""Reports over real HTTP on SQLite and PostgreSQL: a fit's report as one self-contained HTML file
(the fitted parameters with their intervals, one embedded PNG per plot its law kind draws, no
external reference), a PDF with a text page and one page per plot, JSON with parameters, intervals,
bootstrap summary, held-out errors, data hash, run ids, version and warnings, and CSV whose
residuals equal loss minus fitted; a study's report of its latest fit of every kind with the
prediction of /v1/predict at a target; a law that failed says so at the top; 404 and 422 answers;
and serving predictions never imports matplotlib."""

from __future__ import annotations

import csv
import io
import math
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from matplotlib.image import imread

from app import curves, fits, runs, studies
from app.reports import version
from app.settings import Settings
from tests.integration.server import ServerThread, inline_fit
from tests.integration.step_law_data import curve_points, sweep_rows
from tests.integration.test_predict_laws import ALPHA_B, B_STAR

BATCHES = [2.5e4, 7e4, 2e5, 6e5, 1.8e6]


def loss_rows(seed: int = 0) -> list[dict]:
    """L = 1.7 + 400/N^0.34 + 410/D^0.28 on a 4 x 3 grid with 0.3% noise."""
    rng = np.random.default_rng(seed)
    return [
        {"N": n, "D": d, "loss": (1.7 + 400 / n**0.34 + 410 / d**0.28) * math.exp(rng.normal(0, 0.003))}
        for n in (1e7, 3e7, 1e8, 3e8)
        for d in (1e9, 3e9, 1e10)
    ]


@pytest.fixture(scope="module")
def server(db_url):
    with ServerThread(Settings(database_url=db_url, fit_inline_max_bootstrap=100)) as running:
        yield running


def _loss_study(api, name: str = "ladder") -> tuple[int, list[int], dict]:
    study = api.post("/v1/studies", json={"name": name, "defaults": {"seq_len": 256}}).json()["id"]
    ids = api.post(f"/v1/studies/{study}/import", json=loss_rows()).json()["ids"]
    fit = inline_fit(api, study, {"law": "chinchilla", "run_ids": ids}, bootstrap=40)
    return study, ids, fit


def test_fit_report_in_every_format(api):
    study, ids, fit = _loss_study(api)
    alpha, (alpha_lo, alpha_hi) = fit["params"]["alpha"], fit["ci95"]["alpha"]

    html = api.get(f"/v1/fits/{fit['id']}/report")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    page = html.text
    # The fitted alpha with its interval, as the report prints numbers (4 significant digits).
    row = re.search(
        r'<tr data-param="alpha"><td>alpha</td><td class="num">([^<]+)</td><td class="num">([^<]+)</td>', page
    )
    assert row is not None
    assert float(row.group(1)) == pytest.approx(alpha, rel=1e-3)
    lo, hi = (float(v) for v in row.group(2).strip("[]").split(", "))
    assert lo == pytest.approx(alpha_lo, rel=1e-3) and hi == pytest.approx(alpha_hi, rel=1e-3)
    # One embedded PNG per plot the loss kind draws (N, D, compute, residuals, bootstrap), and nothing
    # fetched from anywhere: no external src/href, no script or stylesheet link.
    assert page.count('<img src="data:image/png;base64,') == 5
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page and "<link" not in page
    assert "Loss against compute" in page and "extrapolation" in page
    assert f"hyperlaw {version()}" in page

    report = api.get(f"/v1/fits/{fit['id']}/report", params={"format": "json"}).json()
    assert report["hyperlaw_version"] == version()
    [section] = report["fits"]
    assert section["id"] == fit["id"] and section["law"] == "chinchilla" and section["kind"] == "loss"
    assert section["parameters"]["alpha"] == {"value": alpha, "lo": alpha_lo, "hi": alpha_hi}
    assert section["data_hash"] == fit["data_hash"] and section["run_ids"] == ids
    assert section["warnings"] == fit["warnings"]
    assert section["holdout"] == fit["holdout"] and section["holdout"]["n_heldout"] >= 1
    boot = section["bootstrap"]
    assert boot["requested"] == 40 and boot["converged"] + boot["failed"] == 40
    assert boot["parameters"]["alpha"]["lo"] == pytest.approx(alpha_lo)
    assert "draws" not in section["result"]
    assert len(section["runs"]) == len(ids)

    table = api.get(f"/v1/fits/{fit['id']}/report", params={"format": "csv"})
    assert table.headers["content-type"].startswith("text/csv")
    assert table.headers["content-disposition"] == f'attachment; filename="hyperlaw-fit-{fit["id"]}.csv"'
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [int(r["run_id"]) for r in rows] == ids
    for r in rows:
        assert float(r["residual"]) == pytest.approx(float(r["loss"]) - float(r["fitted"]), abs=1e-12)
        assert float(r["fitted_lo"]) <= float(r["fitted"]) <= float(r["fitted_hi"])
        assert r["fit_id"] == str(fit["id"]) and r["law"] == "chinchilla"

    pdf = api.get(f"/v1/fits/{fit['id']}/report", params={"format": "pdf"})
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    # A text page, then one page per plot.
    assert len(re.findall(rb"/Type\s*/Page\b", pdf.content)) == 1 + 5


def test_study_report_has_every_kind_and_the_prediction(api, database):
    study, ids, loss_fit = _loss_study(api, "everything")
    assert (
        api.post(f"/v1/studies/{study}/import", json=sweep_rows(np.random.default_rng(0))).status_code == 201
    )
    lr = inline_fit(api, study, {"law": "lr_opt", "form": "steplaw"}, bootstrap=20)
    batch = inline_fit(api, study, {"law": "batch_opt"}, bootstrap=20)
    with database.transaction() as session:
        owner = studies.get_study(session=session, study_id=study)
        made = runs.import_runs(
            session=session,
            study=owner,
            rows=[{"n_params": 1e6, "tokens": 1e9, "loss": 2.05, "batch_tokens": b} for b in BATCHES],
        )
        rng = np.random.default_rng(0)
        for run, b in zip(made, BATCHES, strict=True):
            curves.write_points(
                session=session, run_id=run.id, points=curve_points(b, rng, b_star=B_STAR, alpha_b=ALPHA_B)
            )
    critical = inline_fit(api, study, {"law": "critical_batch"}, bootstrap=20)
    target = {"n_params": 1e9, "tokens": 2e10}

    report = api.get(f"/v1/studies/{study}/report", params={"format": "json", **target}).json()
    assert [f["id"] for f in report["fits"]] == [loss_fit["id"], lr["id"], batch["id"], critical["id"]]
    assert [f["kind"] for f in report["fits"]] == ["loss", "lr_opt", "batch_opt", "critical_batch"]
    predicted = api.get("/v1/predict", params={"study": study, **target}).json()
    assert report["prediction"] == predicted  # the same code path as /v1/predict
    assert report["target"] == target

    page = api.get(f"/v1/studies/{study}/report", params=target).text
    assert "Prediction for N = 1.000e+09 parameters, D = 2.000e+10 tokens" in page
    loss = predicted["loss"]
    assert f"{loss['value']:.4g}" in page and f"[{loss['lo']:.4g}, {loss['hi']:.4g}]" in page
    # loss 5 plots, lr_opt and batch_opt 2 each, critical_batch 2.
    assert page.count('<img src="data:image/png;base64,') == 5 + 2 + 2 + 2

    table = list(
        csv.DictReader(io.StringIO(api.get(f"/v1/studies/{study}/report", params={"format": "csv"}).text))
    )
    by_fit = {
        fit_id: [r for r in table if r["fit_id"] == str(fit_id)] for fit_id in (loss_fit["id"], lr["id"])
    }
    assert len(by_fit[loss_fit["id"]]) == len(ids)
    assert len(by_fit[lr["id"]]) == len(lr["run_ids"])
    with_residual = [r for r in by_fit[lr["id"]] if r["log_residual"]]
    assert with_residual and all(
        float(r["log_residual"]) == pytest.approx(math.log(float(r["sweep_optimum"]) / float(r["fitted"])))
        for r in with_residual
    )

    half = api.get(f"/v1/studies/{study}/report", params={"n_params": 1e9})
    assert half.status_code == 422 and "give tokens too" in half.text
    assert api.get("/v1/studies/987654/report").status_code == 404


def test_a_failed_law_says_so_at_the_top(api, database):
    study, ids, good = _loss_study(api, "troubled")
    with database.transaction() as session:
        bad = fits.create_fit(session=session, study_id=study, law="kaplan", bootstrap=0, run_ids=ids)
        bad.status, bad.error = "failed", "the optimiser diverged"
        bad_id = bad.id
    page = api.get(f"/v1/fits/{bad_id}/report").text
    banner = page.index('<div class="banner unusable" id="unusable"><strong>Do not use this law:</strong>')
    assert banner < page.index('<section class="card fit"')
    assert f"Fit {bad_id}: kaplan (loss): the fit failed: the optimiser diverged" in page
    report = api.get(f"/v1/fits/{bad_id}/report", params={"format": "json"}).json()
    assert report["fits"][0]["verdict"] == {
        "level": "unusable",
        "usable": False,
        "reasons": ["the fit failed: the optimiser diverged"],
    }
    good_page = api.get(f"/v1/fits/{good['id']}/report").text
    assert 'id="unusable"' not in good_page


def test_unknown_fit_and_bad_format(api):
    missing = api.get("/v1/fits/424242/report")
    assert missing.status_code == 404 and missing.json()["detail"] == "fit 424242 does not exist"
    _, _, fit = _loss_study(api, "formats")
    bad = api.get(f"/v1/fits/{fit['id']}/report", params={"format": "docx"})
    assert bad.status_code == 422
    assert "'html', 'pdf', 'json' or 'csv'" in bad.json()["detail"][0]["msg"]


PREDICT_WITHOUT_MATPLOTLIB = """
import sys
import time
from fastapi.testclient import TestClient
from app.main import create_app
from app.settings import Settings
with TestClient(create_app(Settings(database_url=sys.argv[1]))) as client:
    study = sys.argv[2]
    assert client.get("/v1/predict", params={"study": study, "n_params": 1e9, "tokens": 2e10}).status_code == 200
    assert client.get(f"/v1/studies/{study}/report", params={"format": "json"}).status_code == 200
    print("matplotlib" in sys.modules)
    assert client.get(f"/v1/studies/{study}/report").status_code == 200
    print("matplotlib" in sys.modules)
"""


def test_predictions_and_json_reports_never_import_matplotlib(api, db_url):
    study, _, _ = _loss_study(api, "light")
    result = subprocess.run(
        [sys.executable, "-c", PREDICT_WITHOUT_MATPLOTLIB, db_url, str(study)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


@pytest.mark.slow
def test_a_thousand_replicate_fit_reports_within_five_seconds(api):
    study = api.post("/v1/studies", json={"name": "thousand"}).json()["id"]
    rng = np.random.default_rng(3)
    rows = [
        {"N": n, "D": d, "loss": (1.7 + 400 / n**0.34 + 410 / d**0.28) * math.exp(rng.normal(0, 0.005))}
        for n in np.geomspace(1e7, 1e9, 6)
        for d in np.geomspace(1e9, 1e11, 5)
    ]
    assert api.post(f"/v1/studies/{study}/import", json=rows).status_code == 201
    queued = api.post(f"/v1/studies/{study}/fits", json={"law": "chinchilla", "bootstrap": 1000})
    assert queued.status_code == 202  # over the inline limit: the server's fit worker computes it
    fit_id = queued.json()["id"]
    deadline = time.monotonic() + 300
    while (fit := api.get(f"/v1/fits/{fit_id}").json())["status"] != "done":
        assert fit["status"] in ("queued", "running") and time.monotonic() < deadline, fit
        time.sleep(0.2)
    assert fit["n_bootstrap"] == 1000
    for format in ("html", "pdf"):
        started = time.perf_counter()
        response = api.get(f"/v1/fits/{fit_id}/report", params={"format": format})
        took = time.perf_counter() - started
        assert response.status_code == 200
        assert took < 5.0, f"the {format} report of a 1000-replicate fit took {took:.2f} s"


def test_pdf_pages_show_the_text_and_the_plots(api, tmp_path):
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("pdftoppm is missing: install Debian's poppler-utils (apt-get install -y poppler-utils)")
    _, _, fit = _loss_study(api, "pages")
    pdf = tmp_path / "fit.pdf"
    pdf.write_bytes(api.get(f"/v1/fits/{fit['id']}/report", params={"format": "pdf"}).content)
    subprocess.run(
        [pdftoppm, "-r", "50", "-f", "1", "-l", "2", "-png", str(pdf), str(tmp_path / "page")], check=True
    )
    text_page, plot_page = (imread(tmp_path / f"page-{i}.png")[..., :3].mean(axis=-1) for i in (1, 2))
    # Not blank: the text page has ink on it, the plot page far more (curves, bands, shading).
    assert (text_page < 0.9).mean() > 0.005 and text_page.std() > 0.03
    assert (plot_page < 0.95).mean() > 0.10 and plot_page.std() > 0.1


def test_an_html_report_draws_a_finished_fits_plots_once(api, monkeypatch):
    """The API's HTML reports take a finished fit's PNGs from the dashboard's cache (app.state.plots):
    downloading a report again, or the study's report holding the same fit, draws nothing."""
    from app.reports import render

    study, _, fit = _loss_study(api, "drawn-once")
    drawn: list[int] = []
    draw = render.draw
    monkeypatch.setattr(render, "draw", lambda section: drawn.append(section.fit.id) or draw(section))
    first, again = (api.get(f"/v1/fits/{fit['id']}/report").text for _ in range(2))
    assert first == again and first.count('<img src="data:image/png;base64,') == 5
    assert api.get(f"/v1/studies/{study}/report").text.count('<img src="data:image/png;base64,') == 5
    assert drawn == [fit["id"]]
