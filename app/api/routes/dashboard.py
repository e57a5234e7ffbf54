"""The dashboard at `/`: server-rendered pages (Jinja2, app/reports/templates/dashboard/), no build step.

/                         the studies
/studies/{id}             a study: its runs (status, progress, live loss curves: static/dashboard.js
                          polls /v1/runs and /v1/runs/{id}/curve), its fits with their key plot,
                          verdict and warnings, a form asking N and D for the prediction, report links,
                          and the writes: submit a sweep, start a fit, cancel a run
/fits/{id}/plots/{i}.png  a fit's i-th plot (drawn once per finished fit, then cached)

Read access, like the API's GETs: with public reads off, a page needs a token with the read scope,
from the Authorization header or, since a browser sends no header when it follows a link, from the
`hyperlaw_token` cookie that the page's script sets when a token is entered (SameSite=Strict; the
REST API itself never reads it, so it authorizes no write). Without one a page answers 401 with the
token field and the reason, and reloads once a token is entered.
Writes go through the REST API itself, from the page's script, with the bearer token entered once
in the page's header (kept in the browser's sessionStorage, or localStorage when remembered): the
pages hold no write route of their own, so every write meets the API's checks and rate limit.
"""

from __future__ import annotations

import math

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from app import curves, fits, law_kinds, runs, studies
from app.api.deps import DatabaseDep, SettingsDep, authorize, bearer_token
from app.errors import InvalidInput, NotFound
from app.reports import content, render, version

router = APIRouter(tags=["dashboard"], include_in_schema=False)

MAX_RUNS = 1000  # runs listed on a study's page (the API pages beyond)
MAX_CURVES = 12  # loss curves drawn at once: the most recent runs with points
# Runs listed live first: what is training, then what waits, then the finished ones (static/dashboard.js
# orders them the same way).
ORDER = {"running": 0, "queued": 1}


# The pages run only their own script, from /static, and talk only to this server: a script injected
# into a page could read the token the page keeps, so none may run, and nothing may leave.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def page(name: str, request: Request, *, status_code: int = 200, **context) -> HTMLResponse:
    """A dashboard page; with public reads off its script fetches the API's links with the token."""
    private = not request.app.state.settings.public_reads
    return HTMLResponse(
        render.templates()
        .get_template(f"dashboard/{name}")
        .render(version=version(), private_reads=private, **context),
        status_code=status_code,
        headers={"Content-Security-Policy": POLICY},
    )


TOKEN_COOKIE = "hyperlaw_token"


def refusal(request: Request) -> HTTPException | None:
    """None when the request may read (public reads, or a read token in the header or the page's
    cookie), else the API's 401/403 for it."""
    if request.app.state.settings.public_reads:
        return None
    token = bearer_token(request.headers) or request.cookies.get(TOKEN_COOKIE) or None
    try:
        authorize(request.app.state.database, token, "read")
    except HTTPException as refused:
        return refused
    return None


def locked(request: Request, refused: HTTPException) -> HTMLResponse:
    """The page a reader without a valid token gets: why, and the token field (in the header)."""
    response = page("locked.html", request, status_code=refused.status_code, reason=refused.detail)
    response.headers.update(refused.headers or {})
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, database: DatabaseDep) -> HTMLResponse:
    """Every study with its number of runs and fits."""
    if refused := refusal(request):
        return locked(request, refused)
    with database.transaction(immediate=False) as session:
        rows, _ = studies.list_studies(session=session, limit=1000)
        listed = [
            {
                "study": study,
                "runs": runs.list_runs(session=session, study_id=study.id, limit=1)[1],
                "fits": len(fits.list_fits(session=session, study_id=study.id)),
            }
            for study in rows
        ]
    return page("index.html", request, studies=listed)


def _number(name: str, text: str | None) -> float | None:
    """A form field as a positive number, None when empty; InvalidInput saying what is wrong."""
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"{name} must be a number such as 1e9, got {text!r}", field=name) from None
    if not (math.isfinite(value) and value > 0):
        raise InvalidInput(f"{name} must be a positive number, got {text!r}", field=name)
    return value


@router.get("/studies/{study_id}", response_class=HTMLResponse)
def study_page(
    study_id: int,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    n_params: str | None = Query(None, description="Target parameters N."),
    tokens: str | None = Query(None, description="Target training tokens D."),
    batch: str | None = Query(None, description="Your batch size in tokens (optional): the LR at it."),
    optimizer: str = Query("adam", description="The transfer rule for batch: adam or sgd."),
) -> HTMLResponse:
    """A study's runs, live curves, fits and the prediction form."""
    if refused := refusal(request):
        return locked(request, refused)
    with database.transaction(immediate=False) as session:
        study = studies.get_study(session=session, study_id=study_id)
        listed, total = runs.list_runs(session=session, study_id=study_id, limit=MAX_RUNS)
        with_points = curves.runs_with_points(session=session, runs=listed, min_points=1)
        every_fit = fits.list_fits(session=session, study_id=study_id)
    error, target = None, None
    try:
        target = content.check_target(
            _number("n_params", n_params), _number("tokens", tokens), _number("batch", batch), optimizer
        )
    except InvalidInput as problem:
        error = str(problem)
    report = content.study_report(database, study_id, **(target or {}))
    return page(
        "study.html",
        request,
        study=study,
        runs=sorted(listed, key=lambda r: (ORDER.get(r.status, 2), r.id)),
        total=total,
        curve_runs=[r.id for r in with_points][-MAX_CURVES:],
        report=report,
        fits=list(reversed(every_fit)),
        form={
            "n_params": n_params or "",
            "tokens": tokens or "",
            "batch": batch or "",
            "optimizer": optimizer,
        },
        form_error=error,
        laws=law_kinds.laws(),
        inline_bootstrap=settings.fit_inline_max_bootstrap,
    )


@router.get("/fits/{fit_id}/plots/{index}.png")
def plot(fit_id: int, index: int, request: Request, database: DatabaseDep) -> Response:
    """The fit's `index`-th plot as PNG (its law kind draws it; kept once drawn)."""
    if refused := refusal(request):
        raise refused
    section = content.fit_report(database, fit_id).sections[0]
    images = request.app.state.plots.images(section)
    if not 0 <= index < len(images):
        raise NotFound("plot", f"{index} of fit {fit_id} ({len(images)} plots)")
    cache = "max-age=86400" if section.fit.status == "done" else "no-store"
    return Response(images[index].png, media_type="image/png", headers={"Cache-Control": cache})
