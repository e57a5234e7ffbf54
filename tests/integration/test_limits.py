"""Request bodies over real HTTP: a write route checks the token before it reads the body (an
anonymous or read-token request with an oversized, malformed body gets 401/403, never 413 or 422),
bodies are bounded (413 naming the limit and its setting, from Content-Length or while a chunked
body streams; the import route has its own larger limit), free text is bounded, and a 422 never
echoes large input back."""

from __future__ import annotations

import httpx
import pytest

from app.settings import Settings
from tests.integration.helpers import TINY_SPEC
from tests.integration.server import ServerThread

LIMIT = 64 * 1024
IMPORT_LIMIT = 256 * 1024
# Larger than the limit, and not JSON: parsing it would answer 413 or 422.
JUNK = b"{" + b"x" * (4 * LIMIT)
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory):
    settings = Settings(
        database_url=db_url,
        max_body_bytes=LIMIT,
        max_import_bytes=IMPORT_LIMIT,
        checkpoint_dir=tmp_path_factory.mktemp("checkpoints"),
    )
    with ServerThread(settings) as running:
        yield running


def _chunks(data: bytes, size: int = 8192):
    """The body as a generator: httpx sends it chunked, without a Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _write_routes(api) -> list[str]:
    study = api.post("/v1/studies", json={"name": "s"}).json()["id"]
    return [
        "/v1/studies",
        f"/v1/studies/{study}/runs",
        f"/v1/studies/{study}/sweeps",
        f"/v1/studies/{study}/import",
        f"/v1/studies/{study}/fits",
    ]


def test_the_token_is_checked_before_the_body_is_read(api, server):
    routes = _write_routes(api)
    read = {"Authorization": f"Bearer {api.read_token}"}
    with httpx.Client(base_url=server.url, timeout=60) as anonymous:
        for path in routes:
            refused = anonymous.post(path, content=JUNK, headers=JSON)
            assert refused.status_code == 401, (path, refused.text)
            assert refused.headers["www-authenticate"] == "Bearer" and "write scope" in refused.text
            chunked = anonymous.post(path, content=_chunks(JUNK), headers=JSON)
            assert chunked.status_code == 401, (path, chunked.text)
            bad_token = anonymous.post(path, content=JUNK, headers={**JSON, "Authorization": "Bearer hl_x_y"})
            assert bad_token.status_code == 401, (path, bad_token.text)
            assert anonymous.post(path, content=JUNK, headers={**JSON, **read}).status_code == 403, path
    assert api.get("/v1/studies").json()["total"] == 1


def test_bodies_over_the_limit_are_refused_naming_the_setting(api):
    routes = _write_routes(api)
    for path in (r for r in routes if not r.endswith("/import")):
        for content in (JUNK, _chunks(JUNK)):
            response = api.post(path, content=content, headers=JSON)
            assert response.status_code == 413, (path, response.text)
            assert response.json()["detail"] == (
                f"the request body is larger than {LIMIT} bytes (HYPERLAW_MAX_BODY_BYTES): "
                "send less, or raise HYPERLAW_MAX_BODY_BYTES"
            )
    study = routes[1].split("/")[3]
    rows = b"N,D,loss\n" + b"70000000,1400000000,3.1\n" * 4000  # ~100 kB: over LIMIT, under IMPORT_LIMIT
    csv = {"Content-Type": "text/csv"}
    assert api.post(f"/v1/studies/{study}/import", content=rows, headers=csv).status_code == 201
    for content in (rows * 3, _chunks(rows * 3)):
        response = api.post(f"/v1/studies/{study}/import", content=content, headers=csv)
        assert response.status_code == 413 and "HYPERLAW_MAX_IMPORT_BYTES" in response.text
        assert f"larger than {IMPORT_LIMIT} bytes" in response.text
    assert api.get("/v1/runs", params={"study": study}).json()["total"] == 4000


def test_free_text_is_bounded_and_a_422_does_not_echo_it(api):
    long_text = "y" * 20_000
    for body in (
        {"name": "s", "description": long_text},
        {"name": long_text},
        {"name": "s", "architecture": long_text},
        {"name": "s", "data": long_text},
        {"name": "s", "defaults": {"note": long_text}},
    ):
        response = api.post("/v1/studies", json=body)
        assert response.status_code == 422, response.text
        assert len(response.content) < 1000, response.text
    study = api.post("/v1/studies", json={"name": "s", "description": "y" * 10_000}).json()["id"]
    for spec in ({**TINY_SPEC, "data": long_text}, {**TINY_SPEC, "schedule": long_text}, {"x": [1] * 10_000}):
        response = api.post(f"/v1/studies/{study}/runs", json={"spec": spec})
        assert response.status_code == 422, response.text
        assert len(response.content) < 3000, response.text
    response = api.post(f"/v1/studies/{study}/runs", json={"spec": {**TINY_SPEC, "n_layer": long_text}})
    assert response.status_code == 422 and len(response.content) < 3000
    plan = {"budget_flops": 1e15, "n_params": 1e8, "tokens": 2e9, "data": long_text}
    response = api.post(f"/v1/studies/{study}/plan", json=plan)
    assert response.status_code == 422 and len(response.content) < 1000
    response = api.post(f"/v1/studies/{study}/import", params={"n_col": long_text}, content=b"N,D,loss\n")
    assert response.status_code == 422 and len(response.content) < 1000


def test_a_dry_run_plan_is_a_read_and_submitting_it_a_write(api, db_url, database):
    study = api.post("/v1/studies", json={"name": "s"}).json()["id"]
    plan = {"budget_flops": 1e15, "n_params": 1e8, "tokens": 2e9, "data": "synthetic:markov"}
    with httpx.Client(base_url=str(api.base_url), timeout=60) as anonymous:
        assert anonymous.post(f"/v1/studies/{study}/plan", json=plan).status_code == 200
        assert anonymous.post(f"/v1/studies/{study}/plan", json={**plan, "submit": True}).status_code == 401
    private = Settings(database_url=db_url, public_reads=False, max_body_bytes=LIMIT)
    with ServerThread(private) as server, httpx.Client(base_url=server.url, timeout=60) as anonymous:
        refused = anonymous.post(f"/v1/studies/{study}/plan", content=JUNK, headers=JSON)
        assert refused.status_code == 401 and "read scope" in refused.text
        read = {"Authorization": f"Bearer {api.read_token}"}
        assert anonymous.post(f"/v1/studies/{study}/plan", json=plan, headers=read).status_code == 200
        submit = anonymous.post(f"/v1/studies/{study}/plan", json={**plan, "submit": True}, headers=read)
        assert submit.status_code == 403
    assert api.get("/v1/runs", params={"study": study}).json()["total"] == 0
