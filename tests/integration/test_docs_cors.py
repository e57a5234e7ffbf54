"""/docs and /redoc over real HTTP: their pages load only local assets (app/reports/static/docs,
vendored), which the server serves; and CORS is off unless HYPERLAW_CORS_ORIGINS names origins."""

from __future__ import annotations

import re

import httpx
import pytest

from app.db import upgrade
from app.settings import Settings
from tests.integration.server import ServerThread

ORIGIN = "https://lab.example.org"


@pytest.fixture(scope="module")
def database_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('docs') / 'hyperlaw.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def server(database_url):
    with ServerThread(Settings(database_url=database_url)) as running:
        yield running


def references(html: str) -> list[str]:
    """Every URL the page loads or links: src, href, and the strings its inline script passes on."""
    return re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: ?'([^']+)'", html)


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}),
        ("/redoc", {"redoc.standalone.js", "favicon-32x32.png"}),
    ],
)
def test_docs_pages_use_only_local_assets(server, page, assets):
    response = httpx.get(server.url + page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html and "https://" not in html, "the page names a remote URL"
    urls = references(html)
    assert {url.rsplit("/", 1)[-1] for url in urls if url.startswith("/static/docs/")} == assets
    assert all(url.startswith("/") for url in urls), urls
    assert "/openapi.json" in html
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
    for url in urls:
        asset = httpx.get(server.url + url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 500, url
    assert httpx.get(server.url + "/openapi.json").json()["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token: hyperlaw token create --scope read|write|admin [--expires-in 30d]. "
        "write may also read; admin may also write, and alone manages tokens (/v1/tokens).",
    }


def test_vendored_assets_are_the_real_bundles(server):
    script = httpx.get(server.url + "/static/docs/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in script.text and script.headers["content-type"].startswith(
        ("application/javascript", "text/javascript")
    )
    assert "Redoc" in httpx.get(server.url + "/static/docs/redoc.standalone.js").text
    assert ".swagger-ui" in httpx.get(server.url + "/static/docs/swagger-ui.css").text
    source = httpx.get(server.url + "/static/docs/SOURCE").text
    assert "swagger-ui-dist 5.35.0, Apache-2.0" in source and "redoc 2.5.4, MIT" in source


def preflight(url: str) -> httpx.Response:
    return httpx.options(
        f"{url}/v1/studies",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_cors_is_off_by_default(server):
    assert Settings(database_url="sqlite://").cors_origins == []
    response = httpx.get(f"{server.url}/v1/studies", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert not any(name.startswith("access-control-") for name in response.headers)
    answer = preflight(server.url)
    assert "access-control-allow-origin" not in answer.headers
    assert answer.status_code == 405  # no route answers OPTIONS: a browser refuses the request


def test_cors_allows_only_the_configured_origins(database_url, monkeypatch):
    monkeypatch.setenv("HYPERLAW_CORS_ORIGINS", f"{ORIGIN}/, http://localhost:3000")
    settings = Settings(database_url=database_url)
    assert settings.cors_origins == [ORIGIN, "http://localhost:3000"]
    with ServerThread(settings) as configured:
        answer = preflight(configured.url)
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        assert "POST" in answer.headers["access-control-allow-methods"]
        assert "authorization" in answer.headers["access-control-allow-headers"].lower()

        read = httpx.get(f"{configured.url}/v1/studies", headers={"Origin": ORIGIN})
        assert read.status_code == 200 and read.headers["access-control-allow-origin"] == ORIGIN

        stranger = httpx.get(f"{configured.url}/v1/studies", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in stranger.headers
        refused = httpx.options(
            f"{configured.url}/v1/studies",
            headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"},
        )
        assert refused.status_code == 400

        # A write from an allowed origin still needs its token: CORS opens no door by itself.
        anonymous = httpx.post(f"{configured.url}/v1/studies", json={"name": "x"}, headers={"Origin": ORIGIN})
        assert anonymous.status_code == 401
        assert anonymous.headers["access-control-allow-origin"] == ORIGIN
