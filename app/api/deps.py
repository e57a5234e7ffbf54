"""Request dependencies as `Annotated` aliases: SessionDep, SettingsDep, DatabaseDep, and
the auth guards ReadAccess, WriteAccess and AdminAccess.

A request's session runs one transaction, committed when the route returns (before the
response is sent) and rolled back when it raises. Writes begin IMMEDIATE on SQLite.

The guards declare the bearer scheme in the OpenAPI document. A route's guard is also read by
app/api/guard.py, which checks the token at the first read of a request's body, before any of it
is parsed; whichever checks first leaves the result on the request for the other.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.datastructures import Headers
from starlette.types import Scope

from app import tokens
from app.db import Database
from app.db.tables import ApiToken
from app.settings import Settings

READ_METHODS = ("GET", "HEAD", "OPTIONS")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_database(request: Request) -> Database:
    return request.app.state.database


def get_session(request: Request) -> Iterator[Session]:
    database: Database = request.app.state.database
    with database.session(immediate=request.method not in READ_METHODS) as session, session.begin():
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


# Declares the scheme in the OpenAPI document (the Authorize button of /docs); the guards read the
# header themselves, so a missing or malformed one gets their message.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token: hyperlaw token create --scope read|write|admin [--expires-in 30d]. "
    "write may also read; admin may also write, and alone manages tokens (/v1/tokens).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)]
# Where the request guard leaves the token it checked: (the scope checked, the token row or None),
# and the write rate limit's buckets (app/api/ratelimit.py).
CHECKED = "hyperlaw.checked_token"
WRITE_BUCKETS = "hyperlaw.write_buckets"


def bearer_token(headers) -> str | None:
    """The credentials of an `Authorization: Bearer ...` header, or None."""
    header = headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def authorize(database: Database, token: str | None, needed: str) -> ApiToken:
    """The token row when `token` grants `needed`; HTTPException 401 (none, unknown, revoked, expired)
    or 403 (a scope that does not grant it, naming the scope that would)."""
    if token is None:
        raise HTTPException(
            status_code=401,
            detail=f"this needs a bearer token with the {needed} scope (hyperlaw token create --scope {needed})",
            headers={"WWW-Authenticate": "Bearer"},
        )
    with database.transaction(immediate=False) as session:
        checked = tokens.check(session=session, token=token)
        row = checked.row
        if row is None:
            raise HTTPException(
                status_code=401, detail=checked.refusal, headers={"WWW-Authenticate": "Bearer"}
            )
        if not tokens.allows(row, needed):
            raise HTTPException(
                status_code=403,
                detail=f"token scope {row.scope!r} does not allow {needed}: this needs a token with the "
                f"{needed} scope (hyperlaw token create --scope {needed})",
            )
        return row


def check_request(scope: Scope, needed: str) -> ApiToken:
    """The request's token, checked for `needed` once per request (the result is kept on the scope).
    A write (or an admin write) also spends one from the token's bucket when the request guard put the buckets on the
    scope: 429 with Retry-After when it is empty."""
    checked = scope.get(CHECKED)
    if checked is not None and checked[0] == needed:
        return checked[1]
    row = authorize(scope["app"].state.database, bearer_token(Headers(scope=scope)), needed)
    buckets = scope.get(WRITE_BUCKETS)
    if needed != "read" and buckets is not None:
        wait = buckets.take(row.prefix)
        if wait is not None:
            setting = "HYPERLAW_WRITE_RATE_PER_MINUTE"
            raise HTTPException(
                status_code=429,
                detail=f"token hl_{row.prefix}_… wrote more than {buckets.capacity:.0f} times in a minute "
                f"({setting}): retry after {math.ceil(wait)} s",
                headers={"Retry-After": str(math.ceil(wait))},
            )
    scope[CHECKED] = (needed, row)
    return row


def require_write(request: Request, _credentials: Credentials = None) -> ApiToken | None:
    return check_request(request.scope, "write")


async def require_read(request: Request, _credentials: Credentials = None) -> ApiToken | None:
    # async, so public reads (the default) cost no threadpool hop; a token check still
    # runs its query in the threadpool.
    if request.app.state.settings.public_reads:
        return None
    return await run_in_threadpool(check_request, request.scope, "read")


def require_admin(request: Request, _credentials: Credentials = None) -> ApiToken | None:
    return check_request(request.scope, "admin")


WriteAccess = Depends(require_write)
AdminAccess = Depends(require_admin)
# An admin route's OpenAPI operation says so (`openapi_extra=ADMIN_ONLY`), so the document never
# marks it a public read and clients can tell which token it takes.
SCOPE_EXTENSION = "x-token-scope"
ADMIN_ONLY = {SCOPE_EXTENSION: "admin"}
ReadAccess = Depends(require_read)
