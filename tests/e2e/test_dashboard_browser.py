"""The dashboard in a real browser: Debian's headless chromium driven by Playwright (never a
downloaded browser) against a real server on a real SQLite database with imported runs, a fit and
one running run with curve points. The runs table appears, the running run's curve grows while the
page is open when points are written through app.curves, the prediction appears after the form is
sent, and a report downloads. Screenshots of the pages (and of an HTML report) are kept under
test-artifacts/dashboard (HYPERLAW_TEST_ARTIFACTS overrides the folder)."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest

from app import curves
from app.db import upgrade
from app.settings import Settings
from app.worker import queue
from tests.integration.helpers import queue_runs
from tests.integration.server import ServerThread, inline_fit, write_client
from tests.integration.test_reports import loss_rows

CHROMIUM = Path("/usr/bin/chromium")
# Headless and offline: nothing is fetched, synced or updated behind the test's back.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(
    os.environ.get("HYPERLAW_TEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / "test-artifacts"
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; make test does it as root)",
    ),
]


def wait_drawn(image, timeout_s: float = 15) -> None:
    """Wait until the <img> located by `image` has loaded a picture. (The dashboard's pages forbid
    eval in their Content-Security-Policy, which page.wait_for_function's string predicate needs.)"""
    image.scroll_into_view_if_needed()  # the dashboard loads its plots lazily
    deadline = time.monotonic() + timeout_s
    while not image.evaluate("img => img.complete && img.naturalWidth > 0"):
        assert time.monotonic() < deadline, "the image did not load"
        time.sleep(0.1)


def points(first: int, last: int) -> list[dict]:
    return [{"step": s, "tokens": 512.0 * s, "train_loss": 6.0 / s**0.25} for s in range(first, last + 1)]


@pytest.fixture
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
    )
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def test_dashboard_live_curves_prediction_and_report(browser, tmp_path):
    folder = ARTIFACTS / "dashboard"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    url = f"sqlite:///{tmp_path / 'hyperlaw.db'}"
    upgrade(url)
    with ServerThread(Settings(database_url=url)) as server:
        database = server.app.state.database
        with write_client(server, database) as api:
            study = api.post(
                "/v1/studies", json={"name": "browser", "description": "a Chinchilla-like ladder"}
            ).json()["id"]
            imported = api.post(f"/v1/studies/{study}/import", json=loss_rows()).json()["ids"]
            fit = inline_fit(api, study, {"law": "chinchilla"}, bootstrap=40)
            [running] = queue_runs(database, study, 1)
            with database.transaction() as session:
                assert queue.claim(session=session, worker_id="browser-test")[0] == running
                curves.write_points(session=session, run_id=running, points=points(1, 8))
            predicted = api.get(
                "/v1/predict", params={"study": study, "n_params": 1e9, "tokens": 2e10}
            ).json()

        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.goto(server.url + "/")
        page.click(f'#studies a[href="/studies/{study}"]')
        page.wait_for_url(f"{server.url}/studies/{study}")
        # The runs table, refreshed by the page's script: the running run first, then the imported ones.
        page.wait_for_selector("#runs-summary:has-text('1 running')")
        rows = page.locator("#runs tbody tr")
        assert rows.count() == 1 + len(imported)
        assert rows.first.get_attribute("data-run") == str(running)
        assert rows.first.locator(".status").inner_text() == "running"
        curve = f'#curves polyline[data-run="{running}"]'
        page.wait_for_selector(f'{curve}[data-points="8"]')
        page.screenshot(path=str(folder / "study-before.png"), full_page=True)

        # New points written while the page is open: the curve grows without a reload.
        with database.transaction() as session:
            curves.write_points(session=session, run_id=running, points=points(9, 20))
        page.wait_for_selector(f'{curve}[data-points="20"]', timeout=15_000)
        assert "20 points" in page.inner_text("#curves-legend")
        page.screenshot(path=str(folder / "study-curve-grew.png"), full_page=True)

        # The prediction form: N and D in, the loss with its interval out (as /v1/predict answers).
        page.fill("input[name=n_params]", "1e9")
        page.fill("input[name=tokens]", "2e10")
        page.click("button:has-text('Predict')")
        page.wait_for_selector("#prediction")
        loss_row = page.locator("#prediction tr", has_text="loss").first.inner_text().split("\t")
        loss = predicted["loss"]
        assert loss_row == [
            "loss (95% prediction interval)",
            f"{loss['value']:.4g}",
            f"[{loss['lo']:.4g}, {loss['hi']:.4g}]",
        ]
        page.locator(f"#fit-{fit['id']} img").scroll_into_view_if_needed()
        wait_drawn(page.locator(f"#fit-{fit['id']} img"))
        page.screenshot(path=str(folder / "study-prediction.png"), full_page=True)

        # A report downloads (the study's PDF, with the prediction).
        with page.expect_download() as started:
            page.click("#study-report a:has-text('PDF')")
        download = started.value
        saved = folder / download.suggested_filename
        download.save_as(saved)
        assert download.suggested_filename == f"hyperlaw-study-{study}.pdf"
        assert saved.read_bytes().startswith(b"%PDF-")

        # The fit's HTML report, as a reader opens it.
        page.goto(f"{server.url}/v1/fits/{fit['id']}/report")
        assert page.locator("figure img").count() == 5
        page.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        page.screenshot(path=str(folder / "fit-report.png"), full_page=True)
        page.close()
    for name in ("study-before.png", "study-curve-grew.png", "study-prediction.png", "fit-report.png"):
        assert (folder / name).stat().st_size > 10_000, name


def test_dashboard_writes_with_a_token(browser, tmp_path):
    """Writes from the page, through the REST API with the token entered once in its header: none
    without a token (the page says so), the API's 403 for a read token, then with a write token a
    fit started from the page appears and finishes (in the background: past the inline bootstrap
    limit), a sweep is queued, and one of its runs is cancelled from the runs table."""
    folder = ARTIFACTS / "dashboard-writes"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    url = f"sqlite:///{tmp_path / 'hyperlaw.db'}"
    upgrade(url)
    with ServerThread(Settings(database_url=url)) as server:
        database = server.app.state.database
        with write_client(server, database) as api:
            measured = api.post("/v1/studies", json={"name": "measured"}).json()["id"]
            assert api.post(f"/v1/studies/{measured}/import", json=loss_rows()).status_code == 201
            write_token = api.headers["Authorization"].removeprefix("Bearer ")
            read_token = api.read_token
        background = server.app.state.settings.fit_inline_max_bootstrap + 20

        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []  # the page's script failing, or refused by its Content-Security-Policy
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "console",
            lambda message: errors.append(message.text) if "Content Security" in message.text else None,
        )
        page.goto(f"{server.url}/studies/{measured}")
        assert page.inner_text("#token-state") == "no token: reads only"
        page.select_option("#fit-form select[name=law]", "lr_opt")
        assert page.is_visible("#fit-form select[name=form]")  # only the optimum laws take a form
        page.select_option("#fit-form select[name=law]", "chinchilla")
        assert not page.is_visible("#fit-form select[name=form]")
        page.fill("#fit-form input[name=bootstrap]", str(background))
        page.click("#fit-form button[type=submit]")
        page.wait_for_selector("#write-status.bad:has-text('Enter a token with the write scope')")

        page.fill("#token", read_token)
        page.click("#token-save")
        page.click("#fit-form button[type=submit]")
        page.wait_for_selector("#write-status.bad:has-text('403: token scope')")

        page.fill("#token", write_token)
        page.click("#token-save")
        assert page.inner_text("#token-state") == f"token {'_'.join(write_token.split('_')[:2])}_… in use"
        assert page.input_value("#token") == ""  # kept by the page, not left in the field
        page.click("#fit-form button[type=submit]")
        started = page.wait_for_selector("#started-fits tbody tr[data-fit]")
        fit_id = int(started.get_attribute("data-fit"))
        page.wait_for_selector(f'#started-fits tr[data-fit="{fit_id}"] .status.done', timeout=120_000)
        page.wait_for_selector(f"#write-status.ok:has-text('Fit {fit_id} (chinchilla) is done')")
        page.screenshot(path=str(folder / "fit-started.png"), full_page=True)
        fit = httpx.get(f"{server.url}/v1/fits/{fit_id}").json()
        assert (fit["study_id"], fit["law"], fit["bootstrap"]) == (measured, "chinchilla", background)
        page.reload()  # the page's own rendering now shows it, with its key plot
        wait_drawn(page.locator(f"#fit-{fit_id} img"))

        # Another page of the same tab keeps the token: a new study from the index, a sweep on its
        # page, then a cancel from the runs table.
        page.goto(f"{server.url}/")
        assert "in use" in page.inner_text("#token-state")
        page.screenshot(path=str(folder / "index.png"), full_page=True)
        page.fill("#study-form input[name=name]", "proxies")
        page.click("#study-form button[type=submit]")
        page.wait_for_url(re.compile(r".*/studies/\d+$"))
        proxies = int(page.url.rsplit("/", 1)[1])
        assert page.inner_text("h1") == "proxies" and proxies != measured
        page.fill("#sweep-form input[name=shapes]", "1x16x2 1x32x2")
        page.fill("#sweep-form input[name=tokens]", "4096")
        page.fill("#sweep-form input[name=lr]", "0.003")
        page.fill("#sweep-form input[name=batch_tokens]", "256")
        assert page.inner_text("#sweep-size") == "2 runs."
        page.click("#sweep-form button[type=submit]")
        page.wait_for_selector("#write-status.ok:has-text('Queued 2 runs')")
        page.wait_for_selector("#runs-summary:has-text('2 queued')")
        first, second = sorted(
            int(r) for r in page.locator("#runs tbody tr").evaluate_all("rs => rs.map(r => r.dataset.run)")
        )
        cancel = f'button[data-cancel="{first}"]'
        page.click(cancel)
        assert page.inner_text(cancel) == "Confirm cancel"  # a first click only arms it
        page.click(cancel)
        page.wait_for_selector(f'#runs tr[data-run="{first}"] .status.cancelled')
        page.wait_for_selector(f"#write-status.ok:has-text('Run {first} is cancelled')")
        assert page.locator(cancel).count() == 0
        page.screenshot(path=str(folder / "run-cancelled.png"), full_page=True)
        assert errors == []
        statuses = {
            r["id"]: r["status"]
            for r in httpx.get(f"{server.url}/v1/runs", params={"study": proxies}).json()["items"]
        }
        assert statuses == {first: "cancelled", second: "queued"}

        # Bulk cancels: the sweep just queued (by its Idempotency-Key), then all that is left.
        page.fill("#sweep-form input[name=shapes]", "1x16x2")
        page.fill("#sweep-form input[name=lr]", "0.001 0.01")
        page.click("#sweep-form button[type=submit]")
        page.wait_for_selector("#write-status.ok:has-text('Queued 2 runs')")
        page.click("#cancel-sweep")
        page.click("#cancel-sweep:has-text('Confirm')")
        page.wait_for_selector("#write-status.ok:has-text('Cancelled 2 runs of the sweep')")
        assert page.is_hidden("#cancel-sweep")  # that sweep is done with
        page.wait_for_selector("#runs-summary:has-text('3 cancelled, 1 queued')")
        page.click("#cancel-all")
        page.click("#cancel-all:has-text('Confirm')")
        page.wait_for_selector(f"#write-status.ok:has-text('Cancelled 1 run of the study (ids {second})')")
        page.wait_for_selector("#runs-summary:has-text('4 runs: 4 cancelled')")
        assert page.is_hidden("#cancel-all")  # nothing left to cancel
        assert page.inner_text("#cancel-all") == "Cancel every queued and running run"
        page.screenshot(path=str(folder / "all-cancelled.png"), full_page=True)
        runs = httpx.get(f"{server.url}/v1/runs", params={"study": proxies}).json()["items"]
        assert [r["status"] for r in runs] == ["cancelled"] * 4
        page.close()
    for name in ("fit-started.png", "index.png", "run-cancelled.png"):
        assert (folder / name).stat().st_size > 10_000, name


def test_api_docs_render_offline(browser, tmp_path):
    """/docs (Swagger UI, with the bearer scheme's Authorize button) and /redoc render in the browser
    from the server's own assets: every request the pages make goes to the server itself."""
    folder = ARTIFACTS / "docs"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    url = f"sqlite:///{tmp_path / 'hyperlaw.db'}"
    upgrade(url)
    with ServerThread(Settings(database_url=url)) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        requested: list[str] = []  # what the pages loaded
        refused: dict[str, str] = {}  # what the browser did not load, and why
        page.on("requestfinished", lambda request: requested.append(request.url))
        page.on("requestfailed", lambda request: refused.setdefault(request.url, request.failure))
        page.goto(f"{server.url}/docs")
        page.wait_for_selector(".swagger-ui .btn.authorize")
        page.wait_for_selector(".swagger-ui .opblock-summary-path:has-text('/v1/predict')")
        page.screenshot(path=str(folder / "swagger-ui.png"))
        page.goto(f"{server.url}/redoc")
        page.wait_for_selector("[role=menuitem]:has-text('/v1/predict'), label:has-text('Predict')")
        page.screenshot(path=str(folder / "redoc.png"))
        page.close()
    foreign = [u for u in requested if not u.startswith((server.url, "data:", "blob:"))]
    assert not foreign, foreign
    # ReDoc's menu asks for its vendor's logo: the pages' Content-Security-Policy stops it in the browser.
    assert all(why == "csp" for why in refused.values()), refused
    assert f"{server.url}/static/docs/swagger-ui-bundle.js" in requested
    assert f"{server.url}/static/docs/redoc.standalone.js" in requested
    assert (folder / "swagger-ui.png").stat().st_size > 10_000


def test_dashboard_with_private_reads(browser, tmp_path):
    """Public reads off (as docker-compose ships): the page asks for a token and says why; once a
    read token is entered it reloads and reads like the API (its script sends the token, the pages
    take it from the cookie the script sets), and a report link downloads with the token."""
    folder = ARTIFACTS / "dashboard-private"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    url = f"sqlite:///{tmp_path / 'hyperlaw.db'}"
    upgrade(url)
    with ServerThread(Settings(database_url=url, public_reads=False)) as server:
        database = server.app.state.database
        with write_client(server, database) as api:
            study = api.post("/v1/studies", json={"name": "private"}).json()["id"]
            assert api.post(f"/v1/studies/{study}/import", json=loss_rows()).status_code == 201
            read_token = api.read_token

        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        answer = page.goto(f"{server.url}/")
        assert answer.status == 401
        assert "needs a bearer token with the read scope" in page.inner_text("#locked-reason")
        page.screenshot(path=str(folder / "locked.png"), full_page=True)

        page.fill("#token", read_token)
        with page.expect_navigation():
            page.click("#token-save")
        page.click(f'#studies a[href="/studies/{study}"]')
        page.wait_for_url(f"{server.url}/studies/{study}")
        page.wait_for_selector("#runs-summary:has-text('12 runs: 12 done')")  # the script's own read
        with page.expect_download() as started:
            page.click("#study-report a:has-text('CSV')")
        saved = folder / started.value.suggested_filename
        started.value.save_as(saved)
        assert saved.name == f"hyperlaw-study-{study}.csv"
        assert saved.read_text().startswith("fit_id,law")  # the API's CSV (no fit yet: its header)
        page.screenshot(path=str(folder / "study.png"), full_page=True)
        page.close()
