"""`hyperlaw runs list|watch|cancel`: a study's runs, live; cancel one, a sweep, a plan or a study.

A sweep or a plan is one submission; the runs table keeps no sweep id, so it is named by what
its submission answered: the Idempotency-Key it was sent with, or its run ids FIRST..LAST (what
`hyperlaw plan --submit` prints). Bulk cancels are one request (POST /v1/studies/{id}/runs/cancel,
app/cancel.py).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from app.cli.fit import fail
from app.cli.options import DatabaseUrlOption, JsonOption, TokenOption, UrlOption
from app.cli.service import (
    LIVE,
    PAGE,
    STATUSES,
    Service,
    console,
    id_span,
    num,
    open_service,
    print_json,
    si,
    table,
)

app = typer.Typer(help="List, watch and cancel runs.", no_args_is_help=True)

StudyOption = Annotated[str | None, typer.Option("--study", help="Study id or name.")]
STATUS_STYLE = {
    "queued": "dim",
    "running": "cyan",
    "done": "green",
    "failed": "red",
    "diverged": "yellow",
    "cancelled": "magenta",
}
BAR = 10  # characters of a progress bar


def _status(value: str) -> str:
    style = STATUS_STYLE.get(value)
    return f"[{style}]{value}[/{style}]" if style else value


def _bar(progress: float | None) -> str:
    if progress is None:
        return "-"
    share = min(1.0, max(0.0, progress))
    filled = int(share * BAR)  # full only when done
    return "█" * filled + "░" * (BAR - filled) + f" {int(share * 100):3d}%"


def _study_id(service: Service, study: str | None) -> int | None:
    return None if study is None else service.find_study(study)["id"]


@app.command("list")
def list_command(
    study: StudyOption = None,
    status: Annotated[
        str | None, typer.Option(help=f"Only runs in this status: {', '.join(STATUSES)}.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Runs on this page (1 to 1000).")] = 50,
    offset: Annotated[int, typer.Option(help="Runs to skip (the next page: --offset 50).")] = 0,
    url: UrlOption = None,
    token: TokenOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """List runs, oldest first: status, size, tokens, LR, batch, progress and loss."""
    if status is not None and status not in STATUSES:
        fail(f"--status {status!r} is unknown: use one of {', '.join(STATUSES)}")
    if not 1 <= limit <= 1000:
        fail(f"--limit must be between 1 and 1000, got {limit}")
    if offset < 0:
        fail(f"--offset must be 0 or more, got {offset}")
    with open_service(url, token, database_url) as service:
        study_id = _study_id(service, study)
        page = service.list_runs(study_id=study_id, status=status, limit=limit, offset=offset)
    if as_json:
        print_json(page)
        return
    runs, total = page["items"], page["total"]
    if not runs:
        typer.echo(f"no runs ({total} in all)" if total else "no runs")
        return
    more = total - offset - len(runs)
    caption = f"runs {offset + 1}-{offset + len(runs)} of {total}" + (
        f"; the next: --offset {offset + len(runs)}" if more > 0 else ""
    )
    grid = table(caption=caption)
    columns = [
        "id",
        *(["study"] if study_id is None else []),
        "status",
        "N",
        "D",
        "lr",
        "batch",
        "progress",
        "loss",
    ]
    for name in columns:
        grid.add_column(name, justify="left" if name in ("status", "progress") else "right", no_wrap=True)
    for run in runs:
        grid.add_row(
            str(run["id"]),
            *([str(run["study_id"])] if study_id is None else []),
            _status(run["status"]),
            si(run["n_params"]),
            si(run["tokens"]),
            num(run["lr"], ".2g"),
            si(run["batch_tokens"]),
            _bar(run["progress"]),
            num(run["loss"], ".4g"),
        )
    console().print(grid)


# ---------------------------------------------------------------------------- watch


def _live_rows(service: Service, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each run with its current loss and tokens/s: the last curve point's while it runs (train loss;
    tokens over wall time, as `hyperlaw train` shows), the final ones once finished."""
    points = service.last_points([r["id"] for r in runs if r["status"] == "running"])
    rows = []
    for run in runs:
        point = points.get(run["id"])
        if point is not None:
            loss = point["train_loss"] if point["train_loss"] is not None else point["eval_loss"]
            wall = point.get("wall_time") or 0.0
            speed = point["tokens"] / wall if wall > 0 else None
        else:
            loss, speed = run["loss"], run["tokens_per_s"]
        rows.append(
            {
                "id": run["id"],
                "study_id": run["study_id"],
                "status": run["status"],
                "n_params": run["n_params"],
                "tokens": run["tokens"],
                "lr": run["lr"],
                "batch_tokens": run["batch_tokens"],
                "progress": run["progress"],
                "tokens_per_s": speed,
                "loss": loss,
                "error": run["error"],
            }
        )
    return rows


@dataclass(frozen=True)
class Snapshot:
    """What one refresh of `runs watch` saw: every status's count, and the rows worth showing (all
    queued and running runs, and the latest finished ones of each status, at most `limit` each)."""

    counts: dict[str, int]
    rows: list[dict[str, Any]]

    @property
    def finished(self) -> bool:
        return not any(self.counts[s] for s in LIVE)


def snapshot(service: Service, study_id: int | None, limit: int) -> Snapshot:
    """A few requests whatever the number of finished runs: live runs page by page, finished ones
    as their count and their last page."""
    counts, found = {}, []
    for status in STATUSES:
        size = PAGE if status in LIVE else limit
        page = service.list_runs(study_id=study_id, status=status, limit=size, offset=0)
        counts[status], items = page["total"], list(page["items"])
        if status in LIVE:
            while len(items) < page["total"] and page["items"]:
                page = service.list_runs(study_id=study_id, status=status, limit=size, offset=len(items))
                items.extend(page["items"])
        elif page["total"] > size:
            items = service.list_runs(
                study_id=study_id, status=status, limit=size, offset=page["total"] - size
            )["items"]
        found.extend(items)
    found.sort(key=lambda run: run["id"])
    return Snapshot(counts, _live_rows(service, found))


def _shown(view: Snapshot, limit: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The rows worth a line: running, then queued (oldest first), then the latest finished; and how
    many of each status were left out."""
    running = [r for r in view.rows if r["status"] == "running"]
    queued = [r for r in view.rows if r["status"] == "queued"]
    finished = sorted((r for r in view.rows if r["status"] not in LIVE), key=lambda r: -r["id"])
    shown = (running + queued + finished)[:limit]
    hidden = dict(view.counts)
    for row in shown:
        hidden[row["status"]] -= 1
    return sorted(shown, key=lambda r: r["id"]), hidden


def watch_table(view: Snapshot, title: str, limit: int) -> Any:
    shown, hidden = _shown(view, limit)
    summary = ", ".join(f"{view.counts[s]} {s}" for s in STATUSES if view.counts[s]) or "no runs"
    left_out = ", ".join(f"{n} {s}" for s, n in hidden.items() if n)
    grid = table(f"{title}: {summary}", f"not shown: {left_out} (--rows)" if left_out else None)
    for name in ("id", "status", "N", "lr", "batch", "progress", "tok/s", "loss"):
        grid.add_column(name, justify="left" if name in ("status", "progress") else "right", no_wrap=True)
    for row in shown:
        grid.add_row(
            str(row["id"]),
            _status(row["status"]),
            si(row["n_params"]),
            num(row["lr"], ".2g"),
            si(row["batch_tokens"]),
            _bar(row["progress"]),
            si(row["tokens_per_s"]),
            num(row["loss"], ".4g"),
        )
    return grid


@app.command("watch")
def watch(
    study: StudyOption = None,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.")] = 2.0,
    rows: Annotated[
        int, typer.Option(help="Most runs shown: running first, then queued, then the latest finished.")
    ] = 20,
    url: UrlOption = None,
    token: TokenOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object per refresh (JSON lines): the counts, the live runs and the latest "
            "finished ones.",
        ),
    ] = False,
) -> None:
    """Watch runs live (status, progress, tokens/s, loss) until none is queued or running; Ctrl-C
    stops watching, not the runs."""
    if not interval > 0:
        fail(f"--interval must be a positive number of seconds, got {interval:g}")
    if not 1 <= rows <= PAGE:
        fail(f"--rows must be between 1 and {PAGE}, got {rows}")
    with open_service(url, token, database_url) as service:
        study_id = _study_id(service, study)
        title = f"study {study}" if study is not None else "all runs"

        def refresh() -> Snapshot:
            return snapshot(service, study_id, rows)

        try:
            if as_json:
                _watch_json(refresh, interval)
            else:
                _watch_live(refresh, title, rows, interval)
        except KeyboardInterrupt:
            typer.echo("stopped watching; the runs go on", err=True)
            raise typer.Exit(130) from None


def _watch_json(refresh, interval: float) -> None:
    while True:
        view = refresh()
        print_json({"time": datetime.now(UTC).isoformat(), "counts": view.counts, "runs": view.rows})
        if view.finished:
            return
        time.sleep(interval)


def _watch_live(refresh, title: str, limit: int, interval: float) -> None:
    from rich.live import Live

    out = console()
    view = refresh()
    if out.is_terminal:
        with Live(watch_table(view, title, limit), console=out, auto_refresh=False) as live:
            while not view.finished:
                time.sleep(interval)
                view = refresh()
                live.update(watch_table(view, title, limit), refresh=True)
    else:  # a file or a pipe: only the final table, as Live would print it (but with its newline)
        while not view.finished:
            time.sleep(interval)
            view = refresh()
        out.print(watch_table(view, title, limit))
    failed = [r for r in view.rows if r["status"] in ("failed", "diverged")]
    for row in failed[:5]:
        out.print(f"run {row['id']} {row['status']}: {row['error'] or 'no error recorded'}", markup=False)


# ---------------------------------------------------------------------------- cancel


def _selection(value: str, option: str) -> dict[str, Any]:
    """A sweep's or plan's runs: FIRST..LAST ids, else its Idempotency-Key."""
    span = re.fullmatch(r"(\d+)\.\.(\d+)", value.strip())
    if span:
        first, last = int(span[1]), int(span[2])
        if first > last:
            fail(f"{option} {value}: the first id is after the last")
        return {"first_id": first, "last_id": last}
    if not value.strip():
        fail(f"{option} takes the submission's Idempotency-Key or its run ids FIRST..LAST")
    return {"idempotency_key": value}


@app.command("cancel")
def cancel(
    run_id: Annotated[int | None, typer.Argument(help="The run to cancel.")] = None,
    sweep: Annotated[
        str | None,
        typer.Option(help="Cancel a sweep: its Idempotency-Key (with --study) or its run ids FIRST..LAST."),
    ] = None,
    plan: Annotated[
        str | None,
        typer.Option(help="Cancel a plan's runs: its Idempotency-Key (with --study) or its ids FIRST..LAST."),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option("--study", help="Study id or name; alone, cancel all its queued and running runs."),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a queued or running run, or in one request a sweep's, a plan's or a whole study's (runs
    already finished are left as they are; running ones stop at their next heartbeat)."""
    if sweep is not None and plan is not None:
        fail("give --sweep or --plan, not both")
    group, option = (sweep, "--sweep") if sweep is not None else (plan, "--plan")
    if run_id is not None:
        if group is not None or study is not None:
            fail("a run id names one run: leave out --sweep, --plan and --study")
        with open_service(url, token, database_url) as service:
            run = service.cancel_run(run_id)
        if as_json:
            print_json(run)
        else:
            typer.echo(f"cancelled run {run['id']}")
        return
    if group is None and study is None:
        fail("say what to cancel: a run id, --sweep, --plan or --study")
    selection = _selection(group, option) if group is not None else {}
    if "idempotency_key" in selection and study is None:
        fail(f"{option} by Idempotency-Key needs --study (a key names a submission within one study)")
    with open_service(url, token, database_url) as service:
        if study is not None:
            found = service.find_study(study)
        else:  # an id range: the study of its first run
            found = service.find_study(str(service.get_run(selection["first_id"])["study_id"]))
        answer = service.cancel_runs(found["id"], selection)
    if as_json:
        print_json(answer)
        return
    what = f"study {found['name']!r} (id {found['id']})"
    if answer["count"]:
        runs = "run" if answer["count"] == 1 else "runs"
        typer.echo(f"cancelled {answer['count']} {runs} of {what}: {id_span(answer['ids'])}")
    else:
        typer.echo(f"nothing to cancel: no queued or running run of {what} matches")


def register(cli: typer.Typer) -> None:
    """Add the runs command group to the CLI."""
    cli.add_typer(app, name="runs")
