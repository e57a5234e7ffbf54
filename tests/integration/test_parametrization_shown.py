"""A study's parametrization where users look, over real HTTP on SQLite and PostgreSQL: a μP study's
HTML, PDF and JSON reports (of the study and of its LR fit) and its dashboard page name the
parametrization and base width, and carry the note of its LR fit (why the law has no N); an sp
study's say sp and carry no note."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from app.settings import Settings
from tests.integration.server import ServerThread, inline_fit
from tests.integration.test_mup_lr_law import BASE_WIDTH, sweep_rows

SAID = f"parametrization mup (base width d_model={BASE_WIDTH}; the LR law is fitted against tokens)"


@pytest.fixture(scope="module")
def server(db_url):
    with ServerThread(Settings(database_url=db_url, fit_inline_max_bootstrap=100)) as running:
        yield running


def _swept_study(api, name: str, **body) -> tuple[int, dict]:
    """A study of LR sweeps (the optimum set by D) with its lr_opt fit: (study id, fit)."""
    response = api.post("/v1/studies", json={"name": name, **body})
    assert response.status_code == 201, response.text
    study = response.json()["id"]
    imported = api.post(f"/v1/studies/{study}/import", json=sweep_rows(np.random.default_rng(0)))
    assert imported.status_code == 201, imported.text
    return study, inline_fit(api, study, {"law": "lr_opt"}, bootstrap=0)


def _noted(fit: dict) -> str:
    """The note of `fit` as the HTML report and the dashboard print it."""
    return f'<p class="note" data-note="{fit["id"]}"><strong>Note.</strong> {fit["context"]["note"]}</p>'


def test_a_mup_studys_reports_name_its_parametrization_and_carry_the_note(api, tmp_path):
    study, fit = _swept_study(api, "mup", parametrization="mup", base_d_model=BASE_WIDTH)
    note = fit["context"]["note"]
    assert note.startswith("μP study: the LR law is fitted against tokens")
    for path in (f"/v1/fits/{fit['id']}/report", f"/v1/studies/{study}/report"):
        page = api.get(path).text
        assert SAID in page and _noted(fit) in page, path

    report = api.get(f"/v1/studies/{study}/report", params={"format": "json"}).json()
    assert report["study"]["parametrization"] == "mup" and report["study"]["base_d_model"] == BASE_WIDTH
    assert [f["context"].get("note") for f in report["fits"]] == [note]

    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext is missing: install Debian's poppler-utils (apt-get install -y poppler-utils)")
    pdf = tmp_path / "fit.pdf"
    pdf.write_bytes(api.get(f"/v1/fits/{fit['id']}/report", params={"format": "pdf"}).content)
    text = subprocess.run([pdftotext, str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    words = " ".join(text.split())  # lines wrapped at spaces, joined again
    assert SAID in words and f"Note: {note}" in words


def test_an_sp_studys_reports_say_sp_and_carry_no_note(api):
    study, fit = _swept_study(api, "plain")
    assert fit["form"] in ("steplaw", "deepseek") and "note" not in fit["context"]
    for path in (f"/v1/fits/{fit['id']}/report", f"/v1/studies/{study}/report", f"/studies/{study}"):
        page = api.get(path).text
        assert '<span id="parametrization">parametrization sp</span>' in page, path
        assert 'class="note"' not in page, path
    assert api.get(f"/v1/studies/{study}/report", params={"format": "json"}).json()["study"] == {
        "id": study,
        "name": "plain",
        "kind": "proxy",
        "data": "synthetic:markov",
        "parametrization": "sp",
        "base_d_model": None,
    }


def test_the_dashboard_shows_a_mup_studys_parametrization_and_the_note(api):
    study, fit = _swept_study(api, "mup", parametrization="mup", base_d_model=BASE_WIDTH)
    page = api.get(f"/studies/{study}")
    assert page.status_code == 200
    assert f'<span id="parametrization">{SAID}</span>' in page.text
    assert _noted(fit) in page.text
