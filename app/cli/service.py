"""The service as the CLI's commands see it: one `Service` interface, two implementations.

`HttpService` talks to a running server (`--url`, bearer token from `--token` or HYPERLAW_TOKEN);
`EmbeddedService` calls the app's own functions on the database (`--database-url`, else
HYPERLAW_DATABASE_URL), as the routes do. Both answer in the API's JSON shapes (app/api/schemas.py:
StudyPublic, RunPublic, FitPublic, ...), so each command (study, runs, import, fits) is written once
and its `--json` output is the same either way.

Failures never reach the user as a traceback: bad input, a domain error (unknown study, finished
run), an unreachable server or database all end in fail()'s one line on stderr and exit code 2.
Also here: the small formatting helpers of their tables (the options they share: app/cli/options.py).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from app.cli.fit import fail, reading_database

STATUSES = ("queued", "running", "done", "failed", "diverged", "cancelled")
LIVE = ("queued", "running")
FIT_TERMINAL = ("done", "failed", "cancelled")
PAGE = 1000  # the API's largest page


class Service(Protocol):
    """What the commands need of hyperlaw, in the API's JSON shapes."""

    where: str

    def create_study(self, body: dict[str, Any]) -> dict[str, Any]: ...
    def list_studies(self) -> list[dict[str, Any]]: ...
    def find_study(self, ref: str) -> dict[str, Any]: ...
    def run_counts(self, study_id: int) -> dict[str, int]: ...
    def list_runs(
        self, *, study_id: int | None, status: str | None, limit: int, offset: int
    ) -> dict[str, Any]: ...
    def get_run(self, run_id: int) -> dict[str, Any]: ...
    def last_points(self, run_ids: Sequence[int]) -> dict[int, dict[str, Any]]: ...
    def cancel_run(self, run_id: int) -> dict[str, Any]: ...
    def cancel_runs(self, study_id: int, selection: dict[str, Any]) -> dict[str, Any]: ...
    def import_runs(self, study_id: int, data: bytes, options: dict[str, Any]) -> dict[str, Any]: ...
    def create_fit(self, study_id: int, body: dict[str, Any], *, compute: bool) -> dict[str, Any]: ...
    def get_fit(self, fit_id: int) -> dict[str, Any]: ...
    def cancel_fit(self, fit_id: int) -> dict[str, Any]: ...
    def list_fits(self, study_id: int) -> list[dict[str, Any]]: ...


@contextmanager
def open_service(url: str | None, token: str | None, database_url: str | None) -> Iterator[Service]:
    """The server at `url`, else the database: a Service for the `with` block, closed after it."""
    if url and database_url:
        fail("give --url (a server) or --database-url (the database directly), not both")
    if url:
        with HttpService.connect(url, token) as service:
            yield service
        return
    settings = embedded_settings(database_url)
    with reading_database(settings.database_url) as database:
        yield EmbeddedService(database, settings)


def embedded_settings(database_url: str | None) -> Any:
    """The Settings of the embedded path, a bad value in them (or in the environment) one line."""
    from pydantic import ValidationError

    from app.settings import load_settings

    try:
        return load_settings(database_url=database_url)
    except ValidationError as error:
        fail(validation_message(error.errors()[:1]))


def validation_message(errors: Sequence[dict[str, Any]]) -> str:
    """422 / pydantic errors as one line: each message with the field it is about."""
    parts = []
    for item in errors:
        loc = [str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path")]
        message = str(item.get("msg", item)).removeprefix("Value error, ")
        # hyperlaw's own messages (value_error) say what they are about; pydantic's need the field.
        named = item.get("type") == "value_error" or not loc or loc[-1] in message
        parts.append(message if named else f"{'.'.join(loc)}: {message}")
    return "; ".join(parts) or "invalid input"


def checked(model: Any, body: dict[str, Any]) -> Any:
    """`body` validated by the API's own request schema; its errors one line, as the server says them."""
    from pydantic import ValidationError

    try:
        return model.model_validate(body)
    except ValidationError as error:
        fail(validation_message(error.errors()))


# ---------------------------------------------------------------------------- over HTTP


class HttpService:
    """A running server's REST API, with httpx."""

    def __init__(self, client: Any, url: str) -> None:
        self.client, self.where = client, url
        self._last: dict[int, dict[str, Any]] = {}  # run id -> its latest curve point seen

    @classmethod
    @contextmanager
    def connect(cls, url: str, token: str | None) -> Iterator[HttpService]:
        import httpx

        if not re.match(r"^https?://[^/\s]+", url):
            fail(f"--url must be a server's address such as http://127.0.0.1:8000, got {url!r}")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=30) as client:
            yield cls(client, url.rstrip("/"))

    def request(
        self, method: str, path: str, *, timeout: float | None = None, missing_ok: bool = False, **kwargs: Any
    ) -> Any:
        """The answer's JSON (None for a 404 when `missing_ok`); fail() with the server's own words
        for any other error answer."""
        import httpx

        try:
            response = self.client.request(method, path, timeout=timeout or self.client.timeout, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            fail(f"cannot reach {self.where}: {error or type(error).__name__}")
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.is_success and payload is not None:
            return payload
        if missing_ok and response.status_code == 404:
            return None
        detail = payload.get("detail") if isinstance(payload, dict) else None
        if isinstance(detail, list):
            detail = validation_message(detail)
        if detail is None:
            detail = (
                response.text.strip().splitlines()[0] if response.text.strip() else response.reason_phrase
            )
        if response.status_code in (404, 409, 422):  # the user's input: the same words as embedded
            fail(str(detail))
        fail(f"{self.where} answered {response.status_code}: {detail}")

    def create_study(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/studies", json=body)

    def list_studies(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = self.request("GET", "/v1/studies", params={"limit": PAGE, "offset": len(found)})
            found.extend(page["items"])
            if not page["items"] or len(found) >= page["total"]:
                return found

    def find_study(self, ref: str) -> dict[str, Any]:
        """By id, else by name (as app.studies.find_study)."""
        if ref.isdigit():
            study = self.request("GET", f"/v1/studies/{ref}", missing_ok=True)
            if study is not None:
                return study
        for study in self.list_studies():
            if study["name"] == ref:
                return study
        fail(f"study {ref!r} does not exist")

    def run_counts(self, study_id: int) -> dict[str, int]:
        return {
            status: self.request("GET", "/v1/runs", params={"study": study_id, "status": status, "limit": 1})[
                "total"
            ]
            for status in STATUSES
        }

    def list_runs(
        self, *, study_id: int | None, status: str | None, limit: int, offset: int
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if study_id is not None:
            params["study"] = study_id
        if status is not None:
            params["status"] = status
        return self.request("GET", "/v1/runs", params=params)

    def get_run(self, run_id: int) -> dict[str, Any]:
        return self.request("GET", f"/v1/runs/{run_id}")

    def last_points(self, run_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Each run's latest curve point: the points from the last one seen on (page by page), so a
        long curve is read once, not at every refresh of `runs watch`."""
        points = {}
        for run_id in run_ids:
            last = self._last.get(run_id)
            step = last["step"] if last else 0
            while True:
                curve = self.request(
                    "GET", f"/v1/runs/{run_id}/curve", params={"format": "json", "from_step": step}
                )
                if curve["points"]:
                    last = curve["points"][-1]
                following = curve.get("next_step")
                if following is None or following <= step:
                    break
                step = following
            if last is not None:
                self._last[run_id] = points[run_id] = last
        return points

    def cancel_run(self, run_id: int) -> dict[str, Any]:
        return self.request("POST", f"/v1/runs/{run_id}/cancel")

    def cancel_runs(self, study_id: int, selection: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/v1/studies/{study_id}/runs/cancel", json=selection)

    def import_runs(self, study_id: int, data: bytes, options: dict[str, Any]) -> dict[str, Any]:
        params = {k: v for k, v in options.items() if v is not None and v is not False}
        return self.request(
            "POST",
            f"/v1/studies/{study_id}/import",
            content=data,
            headers={"Content-Type": "text/csv"},
            params=params,
            timeout=600,
        )

    def create_fit(self, study_id: int, body: dict[str, Any], *, compute: bool) -> dict[str, Any]:
        # The server decides: small fits answer once done (201), others are queued (202).
        created = self.request("POST", f"/v1/studies/{study_id}/fits", json=body, timeout=3600)
        return self.get_fit(created["id"])

    def cancel_fit(self, fit_id: int) -> dict[str, Any]:
        return self.request("POST", f"/v1/fits/{fit_id}/cancel")

    def get_fit(self, fit_id: int) -> dict[str, Any]:
        return self.request("GET", f"/v1/fits/{fit_id}")

    def list_fits(self, study_id: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = self.request(
                "GET", f"/v1/studies/{study_id}/fits", params={"limit": PAGE, "offset": len(found)}
            )
            if isinstance(page, list):  # a server that answers every fit at once
                return page
            found.extend(page["items"])
            if not page["items"] or len(found) >= page["total"]:
                return found


# ---------------------------------------------------------------------------- embedded


class EmbeddedService:
    """The database directly, through the app's owner modules (the routes' own code paths).

    Domain errors and an unreachable database raised here become fail()'s line in reading_database.
    """

    def __init__(self, database: Any, settings: Any) -> None:
        self.database, self.settings = database, settings
        self.where = database.engine.url.render_as_string(hide_password=True)

    def _read(self):
        return self.database.transaction(immediate=False)

    def create_study(self, body: dict[str, Any]) -> dict[str, Any]:
        # The route's own function: how a study's data and defaults are checked and reconciled
        # lives there, and a study made here must be the one the server would make.
        from app.api.routes import studies as route
        from app.api.schemas import StudyCreate

        request = checked(StudyCreate, body)
        with self.database.transaction() as session:
            study = route.create_study(body=request, session=session, settings=self.settings)
            return study.model_dump(mode="json")

    def list_studies(self) -> list[dict[str, Any]]:
        from app import studies
        from app.api.schemas import StudyPublic

        found: list[dict[str, Any]] = []
        with self._read() as session:
            while True:
                rows, total = studies.list_studies(session=session, limit=PAGE, offset=len(found))
                found.extend(StudyPublic.model_validate(s).model_dump(mode="json") for s in rows)
                if not rows or len(found) >= total:
                    return found

    def find_study(self, ref: str) -> dict[str, Any]:
        from app import studies
        from app.api.schemas import StudyPublic

        with self._read() as session:
            study = studies.find_study(session=session, ref=ref)
            return StudyPublic.model_validate(study).model_dump(mode="json")

    def run_counts(self, study_id: int) -> dict[str, int]:
        from app import runs

        with self._read() as session:
            return {
                status: runs.list_runs(session=session, study_id=study_id, status=status, limit=1)[1]
                for status in STATUSES
            }

    def list_runs(
        self, *, study_id: int | None, status: str | None, limit: int, offset: int
    ) -> dict[str, Any]:
        from app import runs
        from app.api.schemas import RunList, RunPublic

        with self._read() as session:
            rows, total = runs.list_runs(
                session=session, study_id=study_id, status=status, limit=limit, offset=offset
            )
            items = [RunPublic.of(r) for r in rows]
        return RunList(items=items, total=total, limit=limit, offset=offset).model_dump(mode="json")

    def get_run(self, run_id: int) -> dict[str, Any]:
        from app import runs
        from app.api.schemas import RunPublic

        with self._read() as session:
            return RunPublic.of(runs.get_run(session=session, run_id=run_id)).model_dump(mode="json")

    def last_points(self, run_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        from app import curves
        from app.api.schemas import CurvePointPublic

        points = {}
        with self._read() as session:
            for run_id in run_ids:
                point = curves.last_point(session=session, run_id=run_id)
                if point is not None:
                    points[run_id] = CurvePointPublic.model_validate(point).model_dump(mode="json")
        return points

    def cancel_run(self, run_id: int) -> dict[str, Any]:
        from app import runs
        from app.api.schemas import RunPublic

        with self.database.transaction() as session:
            return RunPublic.of(runs.cancel_run(session=session, run_id=run_id)).model_dump(mode="json")

    def cancel_runs(self, study_id: int, selection: dict[str, Any]) -> dict[str, Any]:
        from app import cancel, studies
        from app.api.schemas import Cancelled, RunsCancel

        request = checked(RunsCancel, selection)
        with self.database.transaction() as session:
            study = studies.get_study(session=session, study_id=study_id)
            cancelled = cancel.cancel_runs(
                session=session, study=study, selection=cancel.Selection(**request.model_dump())
            )
            ids = [run.id for run in cancelled]
        return Cancelled(study_id=study_id, count=len(ids), ids=ids).model_dump(mode="json")

    def import_runs(self, study_id: int, data: bytes, options: dict[str, Any]) -> dict[str, Any]:
        # The route's own function on the CSV's bytes: the same checks, row numbers in errors, and
        # refusal of data already imported (its digest), whichever way the data comes in.
        import io

        from app.api.routes import imports as route
        from app.tabular import TableError

        body = route.Body(content_type="text/csv", file=io.BytesIO(data), size=len(data))
        try:
            with self.database.transaction() as session:
                imported = route.import_runs(
                    study_id=study_id,
                    body=body,
                    options=route.ImportOptions(**options),
                    session=session,
                    settings=self.settings,
                )
        except TableError as error:
            fail(str(error))
        except UnicodeDecodeError:
            fail("the file is not UTF-8 text: save the CSV as UTF-8")
        return imported.model_dump(mode="json")

    def create_fit(self, study_id: int, body: dict[str, Any], *, compute: bool) -> dict[str, Any]:
        """Queue the fit; compute it in this process when `compute` or when it is small enough to run
        inline (HYPERLAW_FIT_INLINE_MAX_BOOTSTRAP, as the server does). A fit left queued is computed
        by a fit worker: a server's, or `hyperlaw worker`'s."""
        from app.api.schemas import FitCreate
        from app.worker import fit_jobs

        request = checked(FitCreate, body)
        here = compute or request.bootstrap <= self.settings.fit_inline_max_bootstrap
        fit_id, holder = fit_jobs.queue_fit(
            self.database, study_id=study_id, inline=here, **request.request()
        )
        if holder is not None:
            fit_jobs.run_held(self.database, self.settings, fit_id, holder)
        return self.get_fit(fit_id)

    def cancel_fit(self, fit_id: int) -> dict[str, Any]:
        from app import fits
        from app.api.schemas import FitPublic

        with self.database.transaction() as session:
            return FitPublic.of(fits.cancel_fit(session=session, fit_id=fit_id)).model_dump(mode="json")

    def get_fit(self, fit_id: int) -> dict[str, Any]:
        from app import fits
        from app.api.schemas import FitPublic

        with self._read() as session:
            return FitPublic.of(fits.get_fit(session=session, fit_id=fit_id)).model_dump(mode="json")

    def list_fits(self, study_id: int) -> list[dict[str, Any]]:
        from app import fits, studies
        from app.api.schemas import FitPublic

        with self._read() as session:
            studies.get_study(session=session, study_id=study_id)
            return [
                FitPublic.of(f).model_dump(mode="json")
                for f in fits.list_fits(session=session, study_id=study_id)
            ]


# ---------------------------------------------------------------------------- output


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


def console(*, stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def table(title: str | None = None, caption: str | None = None) -> Any:
    """A compact rich table: no vertical rules, so eight columns fit in 80."""
    from rich import box
    from rich.table import Table

    return Table(
        title=title,
        caption=caption,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        title_justify="left",
        caption_justify="left",
    )


def si(value: float | None) -> str:
    """1.2k, 34M, 5.6B, 7.8T: parameter and token counts in at most five characters."""
    if value is None or not math.isfinite(value):
        return "-"
    rounded = float(f"{value:.3g}")
    if abs(rounded) >= 1e15:
        return f"{value:.2g}"
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(rounded) >= scale:
            return f"{rounded / scale:.3g}{suffix}"
    return f"{value:.3g}"


def num(value: float | None, digits: str = ".3g") -> str:
    return "-" if value is None else f"{value:{digits}}"


def when(stamp: str | None) -> str:
    """An ISO timestamp as `2026-01-02 13:45` (UTC)."""
    if not stamp:
        return "-"
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def id_span(ids: Sequence[int]) -> str:
    """`12..16` for consecutive ids, else them listed (the first ten)."""
    if not ids:
        return "none"
    if list(ids) == list(range(ids[0], ids[0] + len(ids))) and len(ids) > 2:
        return f"{ids[0]}..{ids[-1]}"
    shown = ", ".join(str(i) for i in ids[:10])
    return shown + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")


def parse_ids(text: str, option: str) -> list[int]:
    """`1,2,5..9` as run ids; fail() on anything else."""
    ids: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        span = re.fullmatch(r"(\d+)\.\.(\d+)", part)
        if span and int(span[1]) <= int(span[2]):
            ids.extend(range(int(span[1]), int(span[2]) + 1))
        elif part.isdigit():
            ids.append(int(part))
        else:
            fail(f"{option} takes run ids such as 1,2,5..9, got {text!r}")
    return ids


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        fail(f"cannot read {path}: {error.strerror or error}")
