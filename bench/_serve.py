"""A server for a bench or a test: a command that serves HTTP started in a subprocess on a free local
port, returned once it answers. One helper, so every bench and test starts and waits for it alike."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import IO

import httpx

# `hyperlaw serve`, as a user starts it (Settings from the HYPERLAW_ environment).
HYPERLAW_SERVE = [sys.executable, "-m", "app.cli", "serve", "--log-level", "warning"]


def uvicorn_factory(factory: str) -> list[str]:
    """The uvicorn command serving the app that `factory` ("module:function") builds."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    command: list[str],
    env: dict[str, str],
    *,
    ready_path: str = "/healthz",
    timeout: float = 60.0,
    log: IO[bytes] | int | None = None,
    new_session: bool = False,
) -> tuple[subprocess.Popen, str]:
    """`command` with `--host 127.0.0.1 --port P` appended, started with `env` (its output to `log`
    where given: a file, or subprocess.PIPE), and its base URL once GET `ready_path` answers 200.
    Raises RuntimeError, the process killed, when it exits first or does not answer within `timeout`
    seconds; the error ends with the output's tail where it went to a pipe, or names the log file."""
    port = free_port()
    output = {"stdout": log, "stderr": subprocess.STDOUT} if log is not None else {}
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        start_new_session=new_session,
        **output,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + ready_path, timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(
                f"{' '.join(command[1:])} did not answer GET {ready_path} on {url}" + _output(process, log)
            )
        time.sleep(0.1)


def _output(process: subprocess.Popen, log: IO[bytes] | int | None) -> str:
    """Where a server that did not start said why: the tail of its piped output, or its log file."""
    if process.stdout is not None:
        return ": " + process.stdout.read().decode(errors="replace")[-2000:]
    name = getattr(log, "name", None)
    return f" (its output: {name})" if isinstance(name, str) else ""
