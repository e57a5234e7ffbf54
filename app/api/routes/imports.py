"""POST /v1/studies/{id}/import: runs trained elsewhere, as CSV (a text/csv body or a multipart `file`)
or JSON, with the same column options as `hyperlaw fit`. Rows that are checkpoints of runs name their
run: a CSV column given as `group_col`, a `group` (or `run`) key of a JSON row; a loss fit's bootstrap
then resamples each run's checkpoints together.

The body is spooled to a temporary file as it arrives (in memory up to SPOOL_IN_MEMORY bytes, on disk
beyond), bounded by HYPERLAW_MAX_IMPORT_BYTES (app/api/guard.py), and only then is the request's
transaction opened: a slow upload holds no database lock. A CSV is then read line by line and written
in batches by app.imports, so neither the parse nor the write holds the whole table; a JSON body is
parsed whole, so it has its own smaller limit (HYPERLAW_MAX_IMPORT_JSON_BYTES). Non-UTF-8 text, a
malformed multipart body or bad rows are 422s naming what to fix; too many rows a 413; the same
data imported twice into a study a 409 unless `allow_duplicates=true`.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from tempfile import SpooledTemporaryFile
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from python_multipart.multipart import (
    MultipartParseError,
    MultipartParser,
    MultipartState,
    parse_options_header,
)

from app import imports, studies
from app.api.deps import SessionDep, SettingsDep, WriteAccess
from app.api.schemas import Imported
from app.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["import"])

JSON_ALIASES = {
    "n_params": ("n_params", "N"),
    "tokens": ("tokens", "D"),
    "flops": ("flops", "C"),
    "loss": ("loss",),
    "lr": ("lr",),
    "batch_tokens": ("batch_tokens", "batch"),
}  # and a row's run: imports.GROUP_ALIASES
SPOOL_IN_MEMORY = 1 << 20
CHUNK = 1 << 16
MAX_PART_HEADER_LINE = 16_384  # bytes of one header line of a part


@dataclass
class Body:
    """The request body, spooled: its content type, the file holding it, and its size in bytes."""

    content_type: str
    file: IO[bytes]
    size: int


async def spooled_body(request: Request) -> AsyncIterator[Body]:
    """Read the body into a temporary file as it arrives (the guard counts it against the limit)."""
    with SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as file:
        size = 0
        async for chunk in request.stream():
            file.write(chunk)
            size += len(chunk)
        file.seek(0)
        yield Body(request.headers.get("content-type", ""), file, size)


@dataclass(frozen=True)
class ImportOptions:
    """Which CSV columns hold what (the options of `hyperlaw fit`, and the run each row belongs to),
    and whether a repeat is meant."""

    n_col: str
    d_col: str
    c_col: str | None
    loss_col: str
    lr_col: str | None
    batch_col: str | None
    allow_duplicates: bool
    group_col: str | None = None

    def columns(self) -> list[str | None]:
        """The CSV column of each of app.imports.FIELDS (tokens are derived when C is given)."""
        tokens = None if self.c_col else self.d_col
        return [self.n_col, tokens, self.c_col, self.loss_col, self.lr_col, self.batch_col]

    def digested(self) -> str:
        """The column options as the duplicate-import digest covers them (the group column only when
        given, so an import without one keeps the digest it had before groups existed)."""
        shown = repr(self.columns())
        return shown if self.group_col is None else f"{shown} group={self.group_col!r}"


def import_options(
    n_col: str = Query("N", max_length=200, description="CSV column of parameter counts."),
    d_col: str = Query("D", max_length=200, description="CSV column of training tokens."),
    c_col: str | None = Query(
        None, max_length=200, description="CSV column of training FLOPs (replaces d_col: D = C/6N)."
    ),
    loss_col: str = Query("loss", max_length=200, description="CSV column of final losses."),
    lr_col: str | None = Query(None, max_length=200, description="CSV column of learning rates."),
    batch_col: str | None = Query(None, max_length=200, description="CSV column of batch sizes in tokens."),
    allow_duplicates: bool = Query(
        False, description="Import data this study already holds from an earlier import (409 otherwise)."
    ),
    group_col: str | None = Query(
        None,
        max_length=200,
        description="CSV column naming the run each row was measured on (rows that are checkpoints of one "
        "run): a loss fit's bootstrap resamples each run's rows together. JSON rows use a 'group' or 'run' key.",
    ),
) -> ImportOptions:
    return ImportOptions(n_col, d_col, c_col, loss_col, lr_col, batch_col, allow_duplicates, group_col)


@router.post(
    "/studies/{study_id}/import",
    status_code=201,
    response_model=Imported,
    dependencies=[WriteAccess],
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"example": "N,D,loss\n70000000,1400000000,3.1\n"},
                "application/json": {"example": {"runs": [{"N": 7e7, "D": 1.4e9, "loss": 3.1}]}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            }
        }
    },
)
def import_runs(
    study_id: int,
    body: Annotated[Body, Depends(spooled_body)],
    options: Annotated[ImportOptions, Depends(import_options)],
    session: SessionDep,
    settings: SettingsDep,
) -> Imported:
    """Add finished runs measured elsewhere (N, D or C, loss, optional LR and batch size)."""
    study = studies.get_study(session=session, study_id=study_id)
    kind = body.content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        if body.size > settings.max_import_json_bytes:
            limit = settings.max_import_json_bytes
            raise HTTPException(
                413,
                detail=f"a JSON import is parsed whole, and this one is larger than {limit} bytes "
                "(HYPERLAW_MAX_IMPORT_JSON_BYTES): send the runs as CSV, or raise the limit",
            )
        content = body.file.read()
        source = imports.mapping_source(_json_runs(content), JSON_ALIASES)
        digest = _digest(kind, "", [content])
    elif kind in ("multipart/form-data", "text/csv", "text/plain"):
        csv_file = body.file
        if kind == "multipart/form-data":
            csv_file = _multipart_file(body.file, body.content_type)
        digest = _digest("csv", options.digested(), _chunks(csv_file))
        csv_file.seek(0)
        text = io.TextIOWrapper(csv_file, encoding="utf-8-sig", newline="")
        source = imports.csv_source(text, options.columns(), group=options.group_col)
    else:
        raise InvalidInput(
            f"content type {_short(kind) or '(none)'!r} is not importable: send text/csv, multipart/form-data "
            "with a 'file' part, or application/json",
            field="file",
        )
    try:
        made = imports.import_runs(
            session=session,
            study=study,
            source=source,
            digest=digest,
            allow_duplicates=options.allow_duplicates,
            max_rows=settings.max_import_rows,
        )
    except imports.TooManyRows as error:
        raise HTTPException(413, detail=str(error)) from None
    return Imported(
        count=made.count,
        ids=made.ids,
        first_id=made.first_id,
        last_id=made.last_id,
        ids_complete=len(made.ids) == made.count,
    )


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…"


def _chunks(file: IO[bytes]) -> Iterator[bytes]:
    file.seek(0)
    while chunk := file.read(CHUNK):
        yield chunk


def _digest(kind: str, options: str, chunks) -> str:
    """What names an import's data: its kind, column options and bytes (app.imports refuses a repeat)."""
    digest = hashlib.sha256(f"{kind}\n{options}\n".encode())
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _json_runs(content: bytes) -> list[Any]:
    try:
        payload = json.loads(content)
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8 text: send JSON encoded as UTF-8", field="runs") from None
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise InvalidInput(f"the body is not valid JSON ({error.msg} at {where})", field="runs") from None
    items = payload.get("runs") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise InvalidInput('JSON import takes a list of runs or {"runs": [...]}', field="runs")
    return items


def _multipart_file(body: IO[bytes], content_type: str) -> IO[bytes]:
    """The content of the part named `file` of a multipart/form-data body, parsed by python-multipart's
    streaming parser a chunk at a time into a temporary file (the stdlib's MIME parser would hold the
    whole body, several times over)."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidInput("the multipart body's Content-Type names no boundary", field="file")
    part = _FilePart()
    try:
        parser = MultipartParser(boundary, part.callbacks(), max_header_size=MAX_PART_HEADER_LINE)
        while chunk := body.read(CHUNK):
            parser.write(chunk)
    except (MultipartParseError, ValueError) as error:
        part.close()
        raise InvalidInput(
            f"the multipart body does not parse as form-data with boundary {boundary.decode('latin-1')!r} ({error})",
            field="file",
        ) from None
    if part.content is None:
        part.close()
        if parser.state != MultipartState.END:
            raise InvalidInput(
                "the multipart body ends before its closing boundary: it was cut short", field="file"
            )
        raise InvalidInput("the multipart body has no part named 'file'", field="file")
    part.content.seek(0)
    return part.content


class _FilePart:
    """python-multipart's callbacks that keep the first complete part named `file`: its headers
    collected, its content streamed into a temporary file."""

    def __init__(self) -> None:
        self.content: IO[bytes] | None = None  # set once the part has ended
        self._writing: IO[bytes] | None = None
        self._headers: dict[bytes, bytes] = {}
        self._field = self._value = b""

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def close(self) -> None:
        for file in (self._writing, self.content):
            if file is not None:
                file.close()

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        if self.content is None and params.get(b"name") == b"file":
            self._writing = SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._writing is not None:
            self._writing.write(data[start:end])

    def _part_end(self) -> None:
        if self._writing is not None:
            self.content, self._writing = self._writing, None
