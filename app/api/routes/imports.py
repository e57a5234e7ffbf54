"""POST /v1/studies/{id}/import: runs trained elsewhere, as CSV (a text/csv body or a
multipart `file`) or JSON, with the same column options as `hyperlaw fit`. Its body may be larger
than other routes' (HYPERLAW_MAX_IMPORT_BYTES, app/api/guard.py)."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from app import runs, studies
from app.api.deps import SessionDep, WriteAccess
from app.api.schemas import Imported
from app.errors import InvalidInput
from app.tabular import Columns, read_columns, read_runs

router = APIRouter(prefix="/v1", tags=["import"])

JSON_ALIASES = {
    "n_params": ("n_params", "N"),
    "tokens": ("tokens", "D"),
    "flops": ("flops", "C"),
    "loss": ("loss",),
    "lr": ("lr",),
    "batch_tokens": ("batch_tokens", "batch"),
}


def _multipart_file(body: bytes, content_type: str) -> str:
    # The stdlib MIME parser reads multipart/form-data; no extra dependency needed.
    message = BytesParser(policy=default_policy).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            content = part.get_payload(decode=True) or b""
            return content.decode("utf-8-sig")
    raise InvalidInput("the multipart body has no part named 'file'", field="file")


def _rows_from_json(payload: Any) -> list[dict[str, Any]]:
    items = payload.get("runs") if isinstance(payload, dict) else payload
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidInput('JSON import takes a list of runs or {"runs": [...]}', field="runs")
    rows = []
    for item in items:
        row = {}
        for field, names in JSON_ALIASES.items():
            row[field] = next((item[n] for n in names if item.get(n) is not None), None)
        rows.append(row)
    return rows


def _rows_from_csv(
    text: str, columns: Columns, lr_col: str | None, batch_col: str | None
) -> list[dict[str, Any]]:
    table = read_runs(text, columns, source="the CSV")
    wanted = [c for c in (lr_col, batch_col) if c]
    extra = read_columns(text, wanted, source="the CSV") if wanted else {}
    count = len(table["loss"])
    rows = []
    for i in range(count):
        rows.append(
            {
                "n_params": table["N"][i],
                "tokens": table["D"][i] if "D" in table else None,
                "flops": table["C"][i] if "C" in table else None,
                "loss": table["loss"][i],
                "lr": extra[lr_col][i] if lr_col else None,
                "batch_tokens": extra[batch_col][i] if batch_col else None,
            }
        )
    return rows


async def import_rows(
    request: Request,
    n_col: str = Query("N", max_length=200, description="CSV column of parameter counts."),
    d_col: str = Query("D", max_length=200, description="CSV column of training tokens."),
    c_col: str | None = Query(
        None, max_length=200, description="CSV column of training FLOPs (replaces d_col: D = C/6N)."
    ),
    loss_col: str = Query("loss", max_length=200, description="CSV column of final losses."),
    lr_col: str | None = Query(None, max_length=200, description="CSV column of learning rates."),
    batch_col: str | None = Query(None, max_length=200, description="CSV column of batch sizes in tokens."),
) -> list[dict[str, Any]]:
    """The body's runs as rows of n_params, tokens, flops, loss, lr, batch_tokens."""
    content_type = request.headers.get("content-type", "")
    body = await request.body()
    columns = Columns(n_col=n_col, d_col=d_col, loss_col=loss_col, c_col=c_col)
    if content_type.startswith("application/json"):
        try:
            return _rows_from_json(json.loads(body))
        except json.JSONDecodeError as error:
            raise InvalidInput(f"the body is not valid JSON: {error}", field="runs") from error
    if content_type.startswith("multipart/form-data"):
        return _rows_from_csv(_multipart_file(body, content_type), columns, lr_col, batch_col)
    if content_type.startswith(("text/csv", "text/plain")):
        return _rows_from_csv(body.decode("utf-8-sig"), columns, lr_col, batch_col)
    raise InvalidInput(
        f"content type {content_type or '(none)'!r} is not importable: send text/csv, multipart/form-data "
        "with a 'file' part, or application/json",
        field="file",
    )


ImportRows = Annotated[list[dict[str, Any]], Depends(import_rows)]


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
def import_runs(study_id: int, session: SessionDep, rows: ImportRows) -> Imported:
    """Add finished runs measured elsewhere (N, D or C, loss, optional LR and batch size)."""
    study = studies.get_study(session=session, study_id=study_id)
    created = runs.import_runs(session=session, study=study, rows=rows)
    return Imported(count=len(created), ids=[r.id for r in created])
