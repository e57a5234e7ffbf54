"""RequestGuard: what a request body must pass before the service reads a byte of it.

A pure ASGI middleware over every method with a body (all but GET, HEAD, OPTIONS). It hands the
app a `receive` that, at the first read of the body (after routing, before parsing), checks the
bearer token the route's guard asks for (deps.AdminAccess, WriteAccess or ReadAccess): an anonymous or
under-scoped request is answered 401/403 with its body unread, so no one without a token can make
the service parse megabytes. Then it bounds the body: a Content-Length above the route's limit is
answered 413 before reading, and a body sent without one is counted as it arrives (413 as soon as
it passes the limit). JSON routes take `max_body_bytes`; the import route `max_import_bytes`.

It also holds the write rate limit's buckets (per token, in this process: app/api/ratelimit.py) and
puts them on each request, so a write spends from its token's bucket where the token is checked,
here or, for a write without a body, in its route's guard.

Refusals are raised as HTTPException from `receive`: FastAPI passes those on to its handler
whether the body is read for a body parameter or by a dependency.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api import deps, errors
from app.api.ratelimit import TokenBuckets
from app.settings import Settings

# Routes with their own body limit, by endpoint name: the setting that holds it (else max_body_bytes).
BODY_LIMITS = {"import_runs": "max_import_bytes"}


def too_large(limit: int, setting: str) -> str:
    """The 413 message: the limit and the setting that raises it."""
    env = f"HYPERLAW_{setting.upper()}"
    return f"the request body is larger than {limit} bytes ({env}): send less, or raise {env}"


def needed_scope(route: Any) -> str | None:
    """The scope the route's guard asks for (admin, write or read), or None for a route without a guard."""
    if not isinstance(route, APIRoute):
        return None
    calls = {dependency.call for dependency in route.dependant.dependencies}
    if deps.require_admin in calls:
        return "admin"
    if deps.require_write in calls:
        return "write"
    return "read" if deps.require_read in calls else None


class RequestGuard:
    """Check a request's token at the first read of its body, then bound the body (see the module)."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        rate = settings.write_rate_per_minute
        self.buckets = TokenBuckets(rate) if rate else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in deps.READ_METHODS:
            await self.app(scope, receive, send)
            return
        if self.buckets is not None:
            scope[deps.WRITE_BUCKETS] = self.buckets
        await self.app(scope, _Body(scope, receive, self.settings).receive, send)


class _Body:
    """One request's body: opened (token, then declared size) at its first read, then counted."""

    def __init__(self, scope: Scope, receive: Receive, settings: Settings) -> None:
        self.scope, self._receive, self.settings = scope, receive, settings
        self.opened = False
        self.received = 0
        self.limit, self.setting = settings.max_body_bytes, "max_body_bytes"

    async def receive(self) -> Message:
        if not self.opened:
            await self._open()
            self.opened = True
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise HTTPException(413, detail=too_large(self.limit, self.setting))
        return message

    async def _open(self) -> None:
        route = self.scope.get("route")  # set by the router before the endpoint reads the body
        needed = needed_scope(route)
        if needed is not None:
            await self._authorize(needed)
        self.setting = BODY_LIMITS.get(getattr(route, "name", ""), "max_body_bytes")
        self.limit = getattr(self.settings, self.setting)
        length = _content_length(self.scope)
        if length is not None and length > self.limit:
            raise HTTPException(413, detail=too_large(self.limit, self.setting))

    async def _authorize(self, needed: str) -> None:
        if needed == "read" and self.settings.public_reads:
            return
        try:
            await run_in_threadpool(deps.check_request, self.scope, needed)
        except DBAPIError as error:
            # Raised from `receive`, anything but an HTTPException would become a 400.
            unavailable = errors.outage(error)
            if unavailable is None:
                raise
            raise unavailable from error


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
