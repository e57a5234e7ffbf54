"""Fixtures the integration tests share; each module that talks HTTP defines its own `server`
(a tests.integration.server.ServerThread with the settings it needs)."""

from __future__ import annotations

import pytest

from tests.integration.server import write_client


@pytest.fixture
def api(server, database):
    """An httpx client of the module's server with a write token (and .read_token), against an
    emptied database and an emptied prediction cache."""
    with write_client(server, database, timeout=120) as client:
        yield client
