"""The dashboard's server-rendered pages over real HTTP on SQLite and PostgreSQL: `/` lists the
studies; a study's page lists its runs (running first), names the runs whose curves its script
draws, shows each latest fit with its parameters, intervals and key plot, and the prediction for
the N and D of its form, equal to /v1/predict's; a fit's plots come as PNG; the script and
stylesheet are served locally; reads follow the API's read access."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from app import curves
from app.settings import Settings
from app.worker import queue
from tests.integration.helpers import queue_runs
from tests.integration.server import ServerThread, inline_fit, write_client
from tests.integration.test_reports import loss_rows


@pytest.fixture(scope="module")
def server(db_url):
    with ServerThread(Settings(database_url=db_url)) as running:
        yield running


def test_study_page_shows_runs_fits_and_prediction(api, database):
    study = api.post("/v1/studies", json={"name": "watched", "description": "a ladder"}).json()["id"]
    imported = api.post(f"/v1/studies/{study}/import", json=loss_rows()).json()["ids"]
    fit = inline_fit(api, study, {"law": "chinchilla"}, bootstrap=30)
    [running] = queue_runs(database, study, 1)
    with database.transaction() as session:
        assert queue.claim(session=session, worker_id="test")[0] == running
        curves.write_points(
            session=session,
            run_id=running,
            points=[{"step": s, "tokens": 256.0 * s, "train_loss": 5.0 / s**0.2} for s in range(1, 6)],
        )

    home = api.get("/")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    assert f'<a href="/studies/{study}">watched</a>' in home.text
    assert re.search(
        rf'<tr data-study="{study}">.*?<td class="num">13</td><td class="num">1</td>', home.text, re.S
    )

    page = api.get(f"/studies/{study}", params={"n_params": "1e9", "tokens": "2e10"}).text
    rows = re.findall(r'<tr data-run="(\d+)">', page)
    assert rows == [str(running), *map(str, imported)]  # the running run first
    assert json.loads(re.search(r'data-runs="([^"]*)"', page).group(1).replace("&#34;", '"')) == [running]
    assert f'<img src="/fits/{fit["id"]}/plots/0.png"' in page
    lo, hi = fit["ci95"]["alpha"]
    assert (
        f'<td class="num">{fit["params"]["alpha"]:.4g}</td><td class="num">[{lo:.4g}, {hi:.4g}]</td>' in page
    )
    predicted = api.get("/v1/predict", params={"study": study, "n_params": 1e9, "tokens": 2e10}).json()
    loss = predicted["loss"]
    assert (
        f'<td>loss (95% prediction interval)</td><td class="num">{loss["value"]:.4g}</td><td class="num">[{loss["lo"]:.4g}, {loss["hi"]:.4g}]</td>'
        in page
    )
    assert (
        f'href="/v1/studies/{study}/report?format=pdf&amp;n_params=1000000000.0&amp;tokens=20000000000.0"'
        in page
    )

    bad = api.get(f"/studies/{study}", params={"n_params": "big", "tokens": "2e10"})
    assert bad.status_code == 200 and "n_params must be a number such as 1e9, got &#39;big&#39;" in bad.text
    assert api.get("/studies/987654").status_code == 404

    plot = api.get(f"/fits/{fit['id']}/plots/0.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    assert plot.content.startswith(b"\x89PNG")
    assert api.get(f"/fits/{fit['id']}/plots/0.png").content == plot.content  # drawn once, then kept
    assert api.get(f"/fits/{fit['id']}/plots/99.png").status_code == 404


def test_study_page_offers_the_writes(api):
    """The token field, the sweep and fit forms (every law kind), and Cancel on active runs only;
    the page only renders them: its script sends them to the REST API with the token."""
    study = api.post("/v1/studies", json={"name": "writable"}).json()["id"]
    shape = {"n_layer": 1, "d_model": 16, "n_head": 2}
    sweep = {"grid": {"shapes": [shape], "tokens": [4096, 8192], "lr": [3e-3], "batch_tokens": [256]}}
    queued = api.post(f"/v1/studies/{study}/sweeps", json=sweep).json()["ids"]
    assert api.post(f"/v1/runs/{queued[0]}/cancel").json()["status"] == "cancelled"

    page = api.get(f"/studies/{study}").text
    assert '<form id="token-form"' in page and 'id="token" name="token"' in page
    assert '<form id="sweep-form"' in page and '<form id="fit-form"' in page
    assert 'id="cancel-sweep" hidden' in page and 'id="cancel-all" hidden' in page  # shown by the script
    laws = re.findall(r'<option value="([^"]+)"', page)
    assert {"chinchilla", "lr_opt", "batch_opt", "critical_batch"} <= set(laws)
    assert '<option value="chinchilla" selected>' in page
    assert re.findall(r'data-cancel="(\d+)"', page) == [str(queued[1])]  # the cancelled one has none
    assert '<script src="/static/dashboard.js"></script>' in page

    home = api.get("/")
    assert (
        '<form id="token-form"' in home.text and '<script src="/static/dashboard.js"></script>' in home.text
    )
    # Only the page's own script runs (no inline script could read the token), talking only to the API.
    for response in (home, api.get(f"/studies/{study}")):
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "connect-src 'self'" in policy
        assert "<script>" not in response.text


def test_static_files_are_served_locally(api):
    script = api.get("/static/dashboard.js")
    assert script.status_code == 200 and "/v1/runs?study=" in script.text
    # The writes go to the REST API with the bearer token the page keeps.
    for call in (
        '"/sweeps"',
        '"/fits"',
        '"/cancel"',
        '"/runs/cancel"',
        '"Bearer "',
        "sessionStorage",
        "Idempotency-Key",
    ):
        assert call in script.text, call
    assert api.get("/static/hyperlaw.css").status_code == 200


def test_pages_follow_read_access(db_url, database):
    """With public reads off a page needs a read token, from the header or from the cookie the page's
    script sets; without one it answers 401 with the reason and the token field. The REST API
    never takes the cookie."""
    with ServerThread(Settings(database_url=db_url, public_reads=False)) as private:
        anonymous = httpx.get(f"{private.url}/")
        assert anonymous.status_code == 401 and anonymous.headers["content-type"].startswith("text/html")
        assert '<div class="card" id="locked"' in anonymous.text and '<form id="token-form"' in anonymous.text
        assert "needs a bearer token with the read scope" in anonymous.text
        assert 'data-private-reads="1"' in anonymous.text
        with write_client(private, database) as client:
            study = client.post("/v1/studies", json={"name": "private"}).json()["id"]
            header = {"Authorization": f"Bearer {client.read_token}"}
            cookie = {"hyperlaw_token": client.read_token}
            assert httpx.get(f"{private.url}/", headers=header).status_code == 200
            with httpx.Client(base_url=private.url, cookies=cookie) as browser:
                home = browser.get("/")
                assert home.status_code == 200 and f'href="/studies/{study}"' in home.text
                assert 'data-private-reads="1"' in home.text
                assert browser.get(f"/studies/{study}").status_code == 200
                assert browser.get("/v1/studies").status_code == 401  # the API reads no cookie
                assert browser.post("/v1/studies", json={"name": "by cookie"}).status_code == 401
            unknown = httpx.get(f"{private.url}/studies/{study}", cookies={"hyperlaw_token": "hl_nosuch_x"})
            assert unknown.status_code == 401 and 'id="locked-reason"' in unknown.text
            assert httpx.get(f"{private.url}/fits/1/plots/0.png").status_code == 401
