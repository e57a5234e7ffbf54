"""A real HTTP server for the tests: uvicorn serving create_app(settings) on a free port, in a thread;
or `hyperlaw serve` itself in a subprocess (serve_subprocess), where a test kills or stops it."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from app.main import create_app
from app.settings import Settings
from bench._serve import free_port, start_server


def serve_subprocess(
    cli: list[str], args: list[str], env: dict[str, str], token: str, *, client_timeout: float = 60
) -> tuple[subprocess.Popen, httpx.Client]:
    """`hyperlaw serve --host 127.0.0.1 --port P *args` started by `cli` with `env` (bench._serve's
    start_server: its output piped, and quoted if it does not start), and an httpx client of it
    holding `token`."""
    server, url = start_server([*cli, "serve", *args], env, log=subprocess.PIPE)
    return server, httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=client_timeout
    )


class ServerThread:
    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.app.state.database.dispose()


@contextmanager
def write_client(server: ServerThread, database, *, timeout: float = 300) -> Iterator[httpx.Client]:
    """An httpx client of `server` holding a new write token (and, as `.read_token`, a read one),
    with the server's prediction and plot caches emptied: what each API test starts from (an emptied
    SQLite database numbers its fits from 1 again)."""
    from app import tokens

    server.app.state.predictor.clear()
    server.app.state.plots.clear()
    with database.transaction() as session:
        write, _ = tokens.create_token(session=session, scope="write")
        read, _ = tokens.create_token(session=session, scope="read")
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {write}"}, timeout=timeout
    ) as client:
        client.read_token = read
        yield client


def inline_fit(api: httpx.Client, study: int, body: dict, *, bootstrap: int) -> dict:
    """POST a fit small enough to run inline (201), then GET it: done, and shaped as FitPublic."""
    from app.api.schemas import FitPublic

    response = api.post(f"/v1/studies/{study}/fits", json={"bootstrap": bootstrap, "seed": 0, **body})
    assert response.status_code == 201, response.text
    fit = api.get(f"/v1/fits/{response.json()['id']}").json()
    assert fit["status"] == "done", fit["error"]
    return FitPublic.model_validate(fit).model_dump()
