"""The REST API: `create_app(settings)` builds it; read this file first.

Everything the routes share lives on `app.state`: the settings, the database (engine and
session factories), the metrics, the prediction cache and the dashboard's plot cache. The
dashboard (`/`, server-rendered) and its static files (`/static`) come from app/reports/, as do
the assets of /docs and /redoc (`/static/docs`, vendored: no CDN). CORS is off unless
HYPERLAW_CORS_ORIGINS names origins. Nothing is built at import time; migrations are a
separate step (`hyperlaw db upgrade`, run by `hyperlaw serve`).
While the server runs (its lifespan), a FitWorker thread computes queued fits (background
ones, and those whose process died, once their heartbeat is stale) through the job queue.
SIGTERM sets `app.state.stopping`: fits being computed go back to the queue instead of holding up
the shutdown.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.api import errors
from app.api.guard import RequestGuard
from app.api.metrics import Metrics, TimingMiddleware
from app.api.routes import (
    cancel,
    dashboard,
    fits,
    health,
    imports,
    plan,
    predict,
    reports,
    runs,
    studies,
    tokens,
)
from app.db import Database
from app.reports import render, version
from app.settings import Settings
from app.worker.fit_jobs import FitWorker, stop_on_signals


def create_app(settings: Settings, *, database: Database | None = None) -> FastAPI:
    """The FastAPI application for `settings` (a given `database` is shared, not disposed)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = FitWorker(
            app.state.database,
            settings,
            on_done=app.state.metrics.observe_fit,
            on_finished=lambda _fit_id, _status: app.state.predictor.clear(),
            stop=app.state.stopping,
        )
        with stop_on_signals(app.state.stopping):
            worker.start()
            yield
            worker.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="hyperlaw",
        version=version(),
        summary="Train proxy models, fit scaling laws with intervals, predict loss before a big run.",
        docs_url=None,  # served by _docs from the vendored assets, never from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database or Database(settings.database_url)
    app.state.metrics = Metrics()
    app.state.predictor = predict.Predictor(app.state.database, size=settings.predict_cache_size)
    app.state.plots = render.PlotCache()  # the dashboard's PNGs of finished fits
    app.state.stopping = threading.Event()  # set on shutdown: fits in progress go back to the queue
    errors.install(app)
    # predict first: routes are matched in order, and it is the hot path.
    for module in (predict, studies, runs, cancel, plan, imports, fits, reports, tokens, health, dashboard):
        app.include_router(module.router)
    static = resources.files("app.reports") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    _docs(app)
    app.add_middleware(RequestGuard, settings=settings)  # a write's token before its body, then its size
    app.add_middleware(TimingMiddleware, metrics=app.state.metrics)
    if settings.cors_origins:  # off unless configured: browsers on other origins get no CORS headers
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["Retry-After", "Location"],
        )
    return app


# Swagger UI and ReDoc from app/reports/static/docs/ (see its SOURCE), so both work offline. Their
# pages may load nothing from elsewhere (ReDoc's menu links a logo on its vendor's site, for one):
# scripts inline (the pages' own set-up) or from here, ReDoc's search worker from a blob.
DOCS_ASSETS = "/static/docs"
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


def _docs(app: FastAPI) -> None:
    """/docs (Swagger UI, with the Authorize button for the bearer scheme) and /redoc, on local assets."""

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # no badge from the public validator
        )
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} API",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page
