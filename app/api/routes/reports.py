"""Reports of fitted laws: GET /v1/fits/{id}/report and GET /v1/studies/{id}/report, as one
self-contained HTML file, PDF, JSON or CSV (app/reports/ reads and renders them).

Read access, like every GET. Reading takes one short transaction; the plots are drawn after it,
in the threadpool (these routes are plain functions). An HTML report takes a finished fit's PNGs from
the cache the dashboard draws into (app.state.plots), so a fit's figures are drawn once, not on
every download; a PDF draws its figures as vectors, each time."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from app.api.deps import DatabaseDep, ReadAccess
from app.reports import content, render

router = APIRouter(prefix="/v1", tags=["reports"])

Format = Literal["html", "pdf", "json", "csv"]
FORMAT = Query(
    "html",
    description="html (one self-contained file, plots embedded), pdf (the same content), json (everything "
    "machine-readable) or csv (the runs with their fitted values and residuals).",
)
REPORT_RESPONSES = {
    200: {
        "description": "The report in the requested format.",
        "content": {
            "text/html": {},
            "application/pdf": {},
            "application/json": {
                "example": {
                    "hyperlaw_version": "0.1.0",
                    "title": "Fit 3 of study tiny-gpt: chinchilla",
                    "study": {"id": 1, "name": "tiny-gpt"},
                    "prediction": None,
                    "fits": [
                        {
                            "id": 3,
                            "law": "chinchilla",
                            "kind": "loss",
                            "verdict": {"level": "usable", "usable": True, "reasons": []},
                            "parameters": {"alpha": {"value": 0.34, "lo": 0.31, "hi": 0.37}},
                            "bootstrap": {"requested": 1000, "converged": 1000, "failed": 0},
                            "holdout": {"n_heldout": 2, "relative_error": 0.004},
                            "data_hash": "9f2c...",
                            "run_ids": [1, 2],
                            "warnings": [],
                            "runs": [{"run_id": 1, "loss": 3.1, "fitted": 3.09, "residual": 0.01}],
                        }
                    ],
                }
            },
            "text/csv": {
                "example": "fit_id,law,run_id,n_params,tokens,compute,loss,fitted,fitted_lo,fitted_hi,residual\n"
            },
        },
    },
    404: {"description": "No fit or study with that id."},
    422: {"description": "An unknown format, or a target with only one of n_params and tokens."},
}


def respond(
    report: content.Report, format: str, name: str, plots: render.PlotCache | None = None
) -> Response:
    """The report rendered as `format`; PDF and CSV as downloads named `name`.<format>. HTML takes its
    finished fits' PNGs from `plots` when given."""
    disposition = "attachment" if format in ("pdf", "csv") else "inline"
    headers = {"Content-Disposition": f'{disposition}; filename="{name}.{format}"'}
    if format == "json":
        return JSONResponse(render.to_json(report), headers=headers)
    if format == "csv":
        body: str | bytes = render.to_csv(report)
    elif format == "pdf":
        body = render.to_pdf(report)
    else:
        images = [plots.images(section) for section in report.sections] if plots is not None else None
        body = render.to_html(report, images)
    return Response(body, media_type=render.MEDIA_TYPES[format], headers=headers)


@router.get("/fits/{fit_id}/report", dependencies=[ReadAccess], responses=REPORT_RESPONSES)
def fit_report(fit_id: int, request: Request, database: DatabaseDep, format: Format = FORMAT) -> Response:
    """One fit: its verdict, parameters with 95% intervals, diagnostics, warnings and its kind's plots."""
    report = content.fit_report(database, fit_id)
    return respond(report, format, f"hyperlaw-fit-{fit_id}", request.app.state.plots)


@router.get("/studies/{study_id}/report", dependencies=[ReadAccess], responses=REPORT_RESPONSES)
def study_report(
    study_id: int,
    request: Request,
    database: DatabaseDep,
    format: Format = FORMAT,
    n_params: float | None = Query(None, gt=0, description="Target parameters N for the prediction."),
    tokens: float | None = Query(None, gt=0, description="Target training tokens D for the prediction."),
    batch: float | None = Query(
        None, gt=0, description="Your batch size in tokens: the prediction adds the LR at this batch."
    ),
    optimizer: Literal["adam", "sgd"] = Query("adam", description="The transfer rule for batch."),
) -> Response:
    """The study's latest finished fit of every law, and its prediction at (n_params, tokens) when given
    (with batch, the LR at that batch too)."""
    report = content.study_report(
        database, study_id, n_params=n_params, tokens=tokens, batch=batch, optimizer=optimizer
    )
    return respond(report, format, f"hyperlaw-study-{study_id}", request.app.state.plots)
