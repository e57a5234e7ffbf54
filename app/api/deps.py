"""Request dependencies as `Annotated` aliases: SessionDep, SettingsDep, DatabaseDep, and
the auth guards ReadAccess and WriteAccess.

A request's session runs one transaction, committed when the route returns (before the
response is sent) and rolled back when it raises. Writes begin IMMEDIATE on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

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


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def _check(request: Request, needed: str) -> ApiToken | None:
    token = _bearer(request)
    if token is None:
        raise HTTPException(
            status_code=401,
            detail=f"this needs a bearer token with the {needed} scope (hyperlaw token create --scope {needed})",
            headers={"WWW-Authenticate": "Bearer"},
        )
    database: Database = request.app.state.database
    with database.transaction(immediate=False) as session:
        row = tokens.authenticate(session=session, token=token)
        if row is None:
            raise HTTPException(
                status_code=401, detail="unknown or revoked token", headers={"WWW-Authenticate": "Bearer"}
            )
        if not tokens.allows(row, needed):
            raise HTTPException(status_code=403, detail=f"token scope {row.scope!r} does not allow {needed}")
        return row


def require_write(request: Request) -> ApiToken | None:
    return _check(request, "write")


async def require_read(request: Request) -> ApiToken | None:
    # async, so public reads (the default) cost no threadpool hop; a token check still
    # runs its query in the threadpool.
    if request.app.state.settings.public_reads:
        return None
    return await run_in_threadpool(_check, request, "read")


WriteAccess = Depends(require_write)
ReadAccess = Depends(require_read)
