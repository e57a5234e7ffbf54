"""The write rate limit per token over real HTTP (429 with Retry-After once a token's bucket is
empty, with or without a body, from concurrent clients; other tokens and reads unaffected), the
token bucket's arithmetic, the OpenAPI document's bearer scheme and error answers, and the
compose file shipping with anonymous reads off."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from app import tokens
from app.api.ratelimit import TokenBuckets
from app.main import create_app
from app.settings import Settings
from tests.integration.server import ServerThread

RATE = 5
COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@pytest.fixture(scope="module")
def server(db_url):
    with ServerThread(Settings(database_url=db_url, write_rate_per_minute=RATE)) as running:
        yield running


def _client(server, database) -> httpx.Client:
    with database.transaction() as session:
        token, _ = tokens.create_token(session=session, scope="write")
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def test_writes_past_the_rate_get_429_with_retry_after(api, server, database):
    statuses = [api.post("/v1/studies", json={"name": f"s{i}"}).status_code for i in range(RATE)]
    assert statuses == [201] * RATE
    refused = api.post("/v1/studies", json={"name": "over"})
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["retry-after"]) >= 1
    assert "HYPERLAW_WRITE_RATE_PER_MINUTE" in refused.json()["detail"]
    assert api.post("/v1/runs/1/cancel").status_code == 429  # a write without a body counts too
    assert api.get("/v1/studies").status_code == 200  # reads are not limited
    with _client(server, database) as other:  # nor are other tokens
        assert other.post("/v1/studies", json={"name": "other"}).status_code == 201
    assert api.get("/v1/studies").json()["total"] == RATE + 1


def test_concurrent_writers_share_their_tokens_bucket(server, database):
    with _client(server, database) as client, ThreadPoolExecutor(8) as pool:
        names = [f"c{i}" for i in range(40)]
        statuses = list(pool.map(lambda n: client.post("/v1/studies", json={"name": n}).status_code, names))
    assert RATE <= statuses.count(201) <= RATE + 1  # a fraction of a write refills while they run
    assert statuses.count(201) + statuses.count(429) == 40


def test_token_buckets():
    now = [0.0]
    buckets = TokenBuckets(60, clock=lambda: now[0])  # one a second, bursts of 60
    assert all(buckets.take("a") is None for _ in range(60))
    assert buckets.take("a") == pytest.approx(1.0)
    assert buckets.take("b") is None
    now[0] = 0.5
    assert buckets.take("a") == pytest.approx(0.5)
    now[0] = 1.0
    assert buckets.take("a") is None and buckets.take("a") == pytest.approx(1.0)
    now[0] = 1000.0
    assert sum(buckets.take("a") is None for _ in range(100)) == 60  # never more than a burst


def test_private_reads_declare_the_token_required():
    spec = create_app(Settings(database_url="sqlite://", public_reads=False)).openapi()
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if path.startswith("/v1/"):
                assert operation["security"] == [{"bearer": []}], f"{method.upper()} {path}"


def test_openapi_declares_the_bearer_scheme_and_the_error_answers():
    spec = create_app(Settings(database_url="sqlite://")).openapi()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert "Error" in spec["components"]["schemas"]
    operations = [
        (method, path, operation)
        for path, methods in spec["paths"].items()
        if path.startswith("/v1/")
        for method, operation in methods.items()
    ]
    assert len(operations) >= 14
    for method, path, operation in operations:
        where = f"{method.upper()} {path}"
        reads = method == "get" or path.endswith("/plan")  # a dry-run plan writes nothing
        reads = reads and not path.startswith("/v1/tokens")  # admin only: a token always
        # Public reads (the default): a read's token is optional ({} is "no authentication").
        assert operation["security"] == ([{"bearer": []}, {}] if reads else [{"bearer": []}]), where
        codes = set(operation["responses"])
        assert {"401", "403", "422"} <= codes, where
        if "{" in path:
            assert "404" in codes, where
        if method == "post":
            assert {"409", "429"} <= codes, where
        if "requestBody" in operation:
            assert "413" in codes, where
        assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }


def test_compose_ships_with_anonymous_reads_off():
    text = COMPOSE.read_text()
    assert re.search(r'^\s+HYPERLAW_PUBLIC_READS:\s*"false"\s*$', text, re.MULTILINE), text
