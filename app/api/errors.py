"""Domain errors to HTTP, in one place.

NotFound → 404, InvalidInput and bad tables → 422 (FastAPI's shape: loc, msg, type),
Conflict → 409, a database that cannot be reached → 503. The request's transaction is
rolled back before any of these answers, so a failed request writes nothing.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from app.errors import Conflict, InvalidInput, NotFound
from app.tabular import TableError

log = logging.getLogger(__name__)


def _unprocessable(field: str | None, message: str, where: str = "body") -> JSONResponse:
    loc = [where, field] if field else [where]
    return JSONResponse(
        status_code=422, content={"detail": [{"loc": loc, "msg": message, "type": "value_error"}]}
    )


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, error: NotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(error)})

    @app.exception_handler(InvalidInput)
    async def _invalid(_request: Request, error: InvalidInput) -> JSONResponse:
        return _unprocessable(error.field, str(error))

    @app.exception_handler(TableError)
    async def _bad_table(_request: Request, error: TableError) -> JSONResponse:
        return _unprocessable("file", str(error))

    @app.exception_handler(Conflict)
    async def _conflict(_request: Request, error: Conflict) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(error)})

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, error: IntegrityError) -> JSONResponse:
        log.info("integrity error: %s", error.orig)
        return JSONResponse(status_code=409, content={"detail": "the request conflicts with existing data"})

    @app.exception_handler(DBAPIError)
    async def _database(_request: Request, error: DBAPIError) -> JSONResponse:
        if isinstance(error, OperationalError | InterfaceError) or error.connection_invalidated:
            log.warning("database unavailable: %s", error.orig)
            return JSONResponse(
                status_code=503,
                content={"detail": "the database is unavailable; nothing was written, retry later"},
                headers={"Retry-After": "5"},
            )
        raise error
