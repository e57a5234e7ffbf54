"""API tokens on SQLite and PostgreSQL: a token may expire (set at creation, by the owner module and
`hyperlaw token create --expires-in`), an expired one is a 401 saying it expired on every kind of
route, revocation still works, and the hash is compared in constant time even for unknown prefixes."""

from __future__ import annotations

import hmac
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app import tokens
from app.cli import cli
from app.db.tables import ApiToken, utcnow
from app.errors import InvalidInput
from app.settings import Settings
from tests.integration.server import ServerThread


@pytest.fixture(scope="module")
def server(db_url):
    with ServerThread(Settings(database_url=db_url, public_reads=False)) as running:
        yield running


def _expire(database, token: str) -> None:
    prefix = token.split("_")[1]
    with database.transaction() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.prefix == prefix))
        row.expires_at = utcnow() - timedelta(seconds=1)


def test_a_token_lives_until_it_expires(database):
    with database.transaction() as session:
        lasting, _ = tokens.create_token(session=session, scope="write")
        brief, row = tokens.create_token(session=session, scope="read", expires_in=timedelta(days=30))
        assert row.expires_at is not None
    later = utcnow() + timedelta(days=31)
    with database.transaction() as session:
        assert tokens.authenticate(session=session, token=brief) is not None
        assert tokens.authenticate(session=session, token=lasting, now=later) is not None
        refused = tokens.check(session=session, token=brief, now=later)
        assert refused.row is None and "expired at" in refused.refusal and "--expires-in" in refused.refusal
        assert tokens.authenticate(session=session, token=brief, now=later) is None
        with pytest.raises(InvalidInput, match="must be positive"):
            tokens.create_token(session=session, scope="read", expires_in=timedelta(0))


def test_durations():
    assert tokens.parse_duration("30d") == timedelta(days=30)
    assert tokens.parse_duration("12h") == timedelta(hours=12)
    assert tokens.parse_duration("2w") == timedelta(weeks=2)
    for bad in ("0d", "30", "d", "1.5d", "-1d", "30 days"):
        with pytest.raises(InvalidInput, match="e.g. 30d"):
            tokens.parse_duration(bad)
    assert tokens.parse_duration("36500d") == timedelta(days=36_500)
    for long in ("36501d", "600000w", "999999999999999999w"):  # past 100 years; past year 9999; past C int
        with pytest.raises(InvalidInput, match="longer than 36500 days"):
            tokens.parse_duration(long)


def test_an_expired_token_is_401_saying_so(api, server, database):
    study = api.post("/v1/studies", json={"name": "s"}).json()["id"]
    with database.transaction() as session:
        write, _ = tokens.create_token(session=session, scope="write", expires_in=timedelta(hours=1))
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {write}"}) as client:
        assert client.get(f"/v1/studies/{study}").status_code == 200
        assert client.post("/v1/studies", json={"name": "t"}).status_code == 201
        _expire(database, write)
        for response in (
            client.get(f"/v1/studies/{study}"),  # a read (public reads are off)
            client.post("/v1/studies", json={"name": "u"}),  # a write with a body
            client.post("/v1/runs/1/cancel"),  # a write without one
        ):
            assert response.status_code == 401, response.text
            assert "expired at" in response.json()["detail"]
            assert response.headers["www-authenticate"] == "Bearer"
    assert api.get("/v1/studies").json()["total"] == 2


def test_the_cli_creates_expiring_tokens(db_url):
    runner = CliRunner()
    made = runner.invoke(cli, ["token", "create", "--expires-in", "30d", "--database-url", db_url])
    assert made.exit_code == 0, made.output
    prefix = made.output.strip().split("_")[1]
    listed = runner.invoke(cli, ["token", "list", "--database-url", db_url])
    line = next(line for line in listed.output.splitlines() if line.startswith(prefix))
    expires = (utcnow() + timedelta(days=30)).strftime("%Y-%m-%d")
    assert "\tactive\t" in line and expires in line
    bad = runner.invoke(cli, ["token", "create", "--expires-in", "soon", "--database-url", db_url])
    assert bad.exit_code == 2 and "e.g. 30d" in bad.output


def test_hashes_are_compared_in_constant_time_even_for_unknown_prefixes(database, monkeypatch):
    with database.transaction() as session:
        token, _ = tokens.create_token(session=session, scope="read")
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(tokens.hmac, "compare_digest", lambda a, b: compared.append(1) or real(a, b))
    with database.transaction() as session:
        for presented in (token, token[:-1] + "x", "hl_000000000000_guess", "garbage"):
            tokens.authenticate(session=session, token=presented)
    assert len(compared) == 4


def _client(server, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def test_token_routes_are_admin_only(api, server, database):
    """/v1/tokens: a write or read token is 403 naming the admin scope, with its body unread; no
    token is 401; an admin token passes, and may also write and read."""
    with database.transaction() as session:
        admin, _ = tokens.create_token(session=session, scope="admin")
    for refused in (api.post("/v1/tokens", json={"scope": "admin"}), api.get("/v1/tokens")):
        assert refused.status_code == 403, refused.text
        detail = refused.json()["detail"]
        assert "token scope 'write' does not allow admin" in detail and "--scope admin" in detail
    with _client(server, api.read_token) as reader:
        refused = reader.post("/v1/tokens/abc/revoke")
        assert refused.status_code == 403 and "'read' does not allow admin" in refused.json()["detail"]
    # Refused before the body is parsed: a body that is not JSON still gets the 403.
    garbled = api.post("/v1/tokens", content=b"\xff{", headers={"Content-Type": "application/json"})
    assert garbled.status_code == 403
    with _client(server) as anonymous:
        refused = anonymous.get("/v1/tokens")
        assert refused.status_code == 401 and "with the admin scope" in refused.json()["detail"]
    with _client(server, admin) as client:
        assert client.post("/v1/studies", json={"name": "by-admin"}).status_code == 201
        assert client.get("/v1/studies").json()["total"] == 1
        listed = client.get("/v1/tokens").json()
        assert listed["total"] == 3  # the write and read tokens of `api`, and this one
        assert [item["scope"] for item in listed["items"]] == ["write", "read", "admin"]
        assert all("token" not in item and item["state"] == "active" for item in listed["items"])


def test_an_admin_creates_lists_and_revokes_tokens(api, server, database):
    with database.transaction() as session:
        admin, _ = tokens.create_token(session=session, scope="admin")
    with _client(server, admin) as client:
        made = client.post("/v1/tokens", json={"scope": "read", "name": "ci", "expires_in": "2h"})
        assert made.status_code == 201, made.text
        created = made.json()
        assert created["scope"] == "read" and created["name"] == "ci" and created["state"] == "active"
        assert created["token"].startswith(f"hl_{created['prefix']}_")
        with _client(server, created["token"]) as reader:
            assert reader.get("/v1/studies").status_code == 200  # public reads are off here
            refused = reader.post("/v1/studies", json={"name": "x"})
            assert refused.status_code == 403 and "--scope write" in refused.json()["detail"]
            revoked = client.post(f"/v1/tokens/{created['prefix']}/revoke")
            assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
            assert reader.get("/v1/studies").status_code == 401
        again = client.post(f"/v1/tokens/{created['prefix']}/revoke").json()
        assert again["revoked_at"] == revoked.json()["revoked_at"]  # the first revocation stands
        listed = client.get("/v1/tokens", params={"limit": 1, "offset": 3}).json()
        assert listed["total"] == 4 and [item["prefix"] for item in listed["items"]] == [created["prefix"]]
        assert listed["items"][0]["state"] == "revoked"
        missing = client.post("/v1/tokens/000000000000/revoke")
        assert missing.status_code == 404 and "000000000000" in missing.json()["detail"]
        bad = client.post("/v1/tokens", json={"scope": "write", "expires_in": "soon"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "expires_in"]
        assert "e.g. 30d" in bad.json()["detail"][0]["msg"]
        endless = client.post("/v1/tokens", json={"scope": "read", "expires_in": "999999999999w"})
        assert endless.status_code == 422 and "longer than 36500 days" in endless.json()["detail"][0]["msg"]
        assert client.post("/v1/tokens", json={"scope": "root"}).status_code == 422
        assert client.get("/v1/tokens").json()["total"] == 4


def test_an_expired_or_revoked_admin_token_is_401(api, server, database):
    with database.transaction() as session:
        expiring, _ = tokens.create_token(session=session, scope="admin")
        revoked, _ = tokens.create_token(session=session, scope="admin")
    with _client(server, expiring) as client:
        assert client.get("/v1/tokens").status_code == 200
        _expire(database, expiring)
        for response in (client.get("/v1/tokens"), client.post("/v1/tokens", json={"scope": "read"})):
            assert response.status_code == 401 and "expired at" in response.json()["detail"]
    with _client(server, revoked) as client:
        prefix = revoked.split("_")[1]
        assert client.post(f"/v1/tokens/{prefix}/revoke").json()["state"] == "revoked"  # itself
        for response in (client.get("/v1/tokens"), client.post("/v1/studies", json={"name": "late"})):
            assert response.status_code == 401 and response.json()["detail"] == "unknown or revoked token"
    assert api.get("/v1/studies").json()["total"] == 0


def test_the_openapi_documents_the_admin_routes():
    """Admin routes need their token even while public reads are on, and say why they answer 403."""
    from app.main import create_app

    document = create_app(Settings(database_url="sqlite://")).openapi()
    for method, path in (
        ("get", "/v1/tokens"),
        ("post", "/v1/tokens"),
        ("post", "/v1/tokens/{prefix}/revoke"),
    ):
        operation = document["paths"][path][method]
        assert operation["security"] == [{"bearer": []}], f"{method} {path}"
        assert "admin route" in operation["responses"]["403"]["description"]
        assert operation["x-token-scope"] == "admin"
    assert document["paths"]["/v1/studies"]["get"]["security"] == [{"bearer": []}, {}]
    assert "admin" in document["components"]["securitySchemes"]["bearer"]["description"]


def test_the_cli_creates_admin_tokens(db_url, database):
    runner = CliRunner()
    made = runner.invoke(cli, ["token", "create", "--scope", "admin", "--database-url", db_url])
    assert made.exit_code == 0, made.output
    with database.transaction() as session:
        row = tokens.authenticate(session=session, token=made.output.strip())
        assert row is not None and row.scope == "admin" and tokens.allows(row, "write")
        assert tokens.allows(row, "admin") and tokens.allows(row, "read")
        write, _ = tokens.create_token(session=session, scope="write")
        assert not tokens.allows(tokens.authenticate(session=session, token=write), "admin")
    bad = runner.invoke(cli, ["token", "create", "--scope", "root", "--database-url", db_url])
    assert bad.exit_code == 2 and "read, write, admin" in bad.output
    endless = runner.invoke(cli, ["token", "create", "--expires-in", "600000w", "--database-url", db_url])
    assert endless.exit_code == 2 and "longer than 36500" in endless.output, endless.output
