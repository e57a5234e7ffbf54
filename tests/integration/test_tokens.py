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
