"""Domain errors to HTTP, in one place.

NotFound → 404, InvalidInput and bad tables → 422 (FastAPI's shape: loc, msg, type),
Conflict → 409, a database that cannot be reached → 503. The request's transaction is
rolled back before any of these answers, so a failed request writes nothing.

A 422 never echoes large input: request validation errors keep the `input` they quote only
when it is short (long strings are cut, other long values left out), and a message longer than
MAX_MESSAGE characters is cut too.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api import deps
from app.errors import Conflict, InvalidInput, NotFound
from app.tabular import TableError

log = logging.getLogger(__name__)

# The most characters of a client's input quoted back in a 422 (the `input` of a validation error),
# and the longest message; enough to recognise a value, never a way to make the server echo a body.
MAX_ECHO = 200
MAX_MESSAGE = 2000


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters, cut)"


def _bounded(error: dict[str, Any]) -> dict[str, Any]:
    """One validation error (JSON-ready) with its quoted input, context and message kept short."""
    error = dict(error)
    error["msg"] = _cut(str(error.get("msg", "")), MAX_MESSAGE)
    if isinstance(error.get("input"), str):
        error["input"] = _cut(error["input"], MAX_ECHO)
    for key in ("input", "ctx"):
        if key in error and len(json.dumps(error[key])) > MAX_ECHO + 100:
            del error[key]
    return error


def outage(error: DBAPIError) -> HTTPException | None:
    """The 503 for a database that cannot be reached (logged), or None for any other database error."""
    if not (isinstance(error, OperationalError | InterfaceError) or error.connection_invalidated):
        return None
    log.warning("database unavailable: %s", error.orig)
    return HTTPException(
        status_code=503,
        detail="the database is unavailable; nothing was written, retry later",
        headers={"Retry-After": "5"},
    )


_OUT_OF_RANGE = (
    "a number in the request is beyond what the database stores (ids up to 2147483647, counts and "
    "offsets up to 9223372036854775807): use a smaller one"
)

_FASTAPI_PARSE_ERROR = "There was an error parsing the body"
_NOT_UTF8 = "the body is not text in UTF-8: send JSON encoded as UTF-8"
_NOT_JSON = "the body could not be read as JSON: send a JSON document of the documented shape"


def _unprocessable(field: str | None, message: str, where: str = "body") -> JSONResponse:
    loc = [where, field] if field else [where]
    return JSONResponse(
        status_code=422,
        content={"detail": [{"loc": loc, "msg": _cut(message, MAX_MESSAGE), "type": "value_error"}]},
    )


# The error answers each route may give, documented in the OpenAPI document by `_document`.
_ERRORS = {
    "401": "No bearer token, or an unknown, revoked or expired one (WWW-Authenticate: Bearer).",
    "403": "The token's scope does not allow this: a read token on a write route, or a read or write "
    "token on an admin route (/v1/tokens). The message names the scope needed.",
    "404": "A resource named in the path does not exist.",
    "409": "The request conflicts with existing data (a duplicate name, a finished run, a reused "
    "Idempotency-Key).",
    "413": "The body is larger than HYPERLAW_MAX_BODY_BYTES (HYPERLAW_MAX_IMPORT_BYTES for imports).",
    "429": "More writes with this token than HYPERLAW_WRITE_RATE_PER_MINUTE; retry after Retry-After "
    "seconds.",
    "503": "The database is unavailable; nothing was written; retry after Retry-After seconds.",
}
_ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "What went wrong and what to do."}},
    "required": ["detail"],
    "examples": [{"detail": "study 42 does not exist"}],
}


def _codes(method: str, operation: dict[str, Any]) -> list[str]:
    """The error statuses an operation can answer, from its shape: guard, body, path, write."""
    codes = []
    if operation.get("security"):
        codes += ["401", "403"]
    parameters = operation.get("parameters", [])
    if any(p.get("in") == "path" or p.get("name") == "study" for p in parameters):
        codes.append("404")  # a path's resource, or the study a query names
    if method != "get":
        codes += ["409", "429"]
    if "requestBody" in operation:
        codes.append("413")
    return codes + (["503"] if codes else [])


# FastAPI's own 422 schemas, whose fields come without descriptions.
_VALIDATION_FIELDS = {
    "HTTPValidationError": {"detail": "One entry per invalid value."},
    "ValidationError": {
        "loc": "Where the value is: body, query or path, then the field's name (and index).",
        "msg": "What is wrong with it and what is expected.",
        "type": "The kind of error (e.g. missing, int_parsing, value_error).",
        "input": "The value given, when short (long input is never echoed back).",
        "ctx": "The constraint the value broke (e.g. {'gt': 0}).",
    },
}


def _describe_validation_errors(schemas: dict[str, Any]) -> None:
    for name, fields in _VALIDATION_FIELDS.items():
        for field, properties in schemas.get(name, {}).get("properties", {}).items():
            properties.setdefault("description", fields.get(field, "See the message."))


def _is_public_read(app: FastAPI, path: str, method: str, operation: dict[str, Any]) -> bool:
    """Whether a token is optional for this operation: a read (every GET under /v1 but the admin
    ones, and the plan, whose dry run writes nothing) while HYPERLAW_PUBLIC_READS is on."""
    settings = getattr(app.state, "settings", None)
    if settings is None or not settings.public_reads or not operation.get("security"):
        return False
    if operation.get(deps.SCOPE_EXTENSION) == "admin":
        return False
    return method == "get" or (method == "post" and path.endswith("/plan"))


def _document(app: FastAPI) -> None:
    """Add the error answers (and one Error schema) to every operation of the app's OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Error"] = _ERROR_SCHEMA
        _describe_validation_errors(schemas)
        content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if _is_public_read(app, path, method, operation):  # `{}`: "no authentication" will do
                    operation["security"] = [{"bearer": []}, {}]
                responses = operation.setdefault("responses", {})
                for code in _codes(method, operation):
                    # A route's own description of the code is kept; the body is always the Error.
                    responses.setdefault(code, {"description": _ERRORS[code]}).setdefault("content", content)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi


def install(app: FastAPI) -> None:
    """Register the handlers on `app`, and document their answers in its OpenAPI document."""
    _document(app)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=422, content={"detail": [_bounded(e) for e in jsonable_encoder(error.errors())]}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        # FastAPI answers a JSON body it cannot read (not UTF-8, nested too deep) with an undocumented
        # 400; malformed JSON in UTF-8 is a 422 (json_invalid), so these are 422s too.
        if error.status_code == 400 and error.detail == _FASTAPI_PARSE_ERROR:
            unreadable = isinstance(error.__cause__, UnicodeDecodeError)
            return _unprocessable(None, _NOT_UTF8 if unreadable else _NOT_JSON)
        return await http_exception_handler(request, error)

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, error: NotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(error)})

    @app.exception_handler(InvalidInput)
    async def _invalid(_request: Request, error: InvalidInput) -> JSONResponse:
        return _unprocessable(error.field, str(error))

    @app.exception_handler(TableError)
    async def _bad_table(_request: Request, error: TableError) -> JSONResponse:
        return _unprocessable("file", str(error))

    @app.exception_handler(OverflowError)
    async def _overflow(_request: Request, _error: OverflowError) -> JSONResponse:
        # SQLite binds integers as 64-bit: a larger id, offset or count overflows there. Routes bound
        # their integers (app.api.schemas.MAX_ID); this answers for any that do not.
        return _unprocessable(None, _OUT_OF_RANGE, where="request")

    @app.exception_handler(DataError)
    async def _out_of_range(_request: Request, error: DataError) -> JSONResponse:
        # PostgreSQL's "integer out of range" (ids are 32-bit there) and other values a column cannot hold.
        log.info("data error: %s", error.orig)
        return _unprocessable(None, f"{_OUT_OF_RANGE} ({str(error.orig).splitlines()[0]})", where="request")

    @app.exception_handler(Conflict)
    async def _conflict(_request: Request, error: Conflict) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(error)})

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, error: IntegrityError) -> JSONResponse:
        log.info("integrity error: %s", error.orig)
        return JSONResponse(status_code=409, content={"detail": "the request conflicts with existing data"})

    @app.exception_handler(DBAPIError)
    async def _database(_request: Request, error: DBAPIError) -> JSONResponse:
        unavailable = outage(error)
        if unavailable is None:
            raise error
        return JSONResponse(
            status_code=503, content={"detail": unavailable.detail}, headers=unavailable.headers
        )
