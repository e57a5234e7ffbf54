"""`hyperlaw fits create|list|show|cancel`: server-side fits of a study, any law of a registered law kind
(loss laws, lr_opt, batch_opt, critical_batch, the frontiers), as POST /v1/studies/{id}/fits.

Unlike `hyperlaw fit` (app/cli/fit.py: a CSV fitted in this process, nothing stored), these fits are
stored with the study and used by `hyperlaw predict` and the reports. A small fit is computed at once;
a larger one (more bootstrap replicates than HYPERLAW_FIT_INLINE_MAX_BOOTSTRAP) is queued for a fit
worker, and `create --wait` waits for it with a spinner. Embedded with --wait, this process
computes it. `cancel` stops a queued or running fit.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from app import holdouts
from app.cli.fit import fail
from app.cli.options import DatabaseUrlOption, JsonOption, StudyArgument, TokenOption, UrlOption
from app.cli.service import (
    FIT_TERMINAL,
    console,
    open_service,
    parse_ids,
    print_json,
    table,
    when,
)
from app.cli.study import fits_table

app = typer.Typer(
    help="Fit laws to a study's runs on the service, list and show the fits.", no_args_is_help=True
)


def _laws() -> str:
    from app import law_kinds

    return ", ".join(law_kinds.laws())


def print_fit(fit: dict[str, Any]) -> None:
    """A fit as its parameters with 95% intervals, its diagnostics and warnings."""
    out = console()
    out.print(f"[bold]fit {fit['id']}[/bold] of study {fit['study_id']}: {fit['law']}, {fit['status']}")
    facts = [f"{fit['n_points']} runs" if fit.get("n_points") is not None else None]
    facts.append(f"{fit['bootstrap']} bootstrap replicates")
    if fit.get("n_failed_replicates"):
        facts.append(f"{fit['n_failed_replicates']} failed")
    if fit.get("objective") is not None:
        facts.append(f"objective {fit['objective']:.6g}")
    if fit.get("converged") is False:
        facts.append("[yellow]not converged[/yellow]")
    out.print(", ".join(f for f in facts if f))
    if fit.get("params"):
        intervals = fit.get("ci95") or {}
        grid = table()
        grid.add_column("parameter")
        grid.add_column("estimate", justify="right")
        grid.add_column("95% interval", justify="right")
        for name, value in fit["params"].items():
            bounds = intervals.get(name)
            shown = f"{bounds[0]:.6g} .. {bounds[1]:.6g}" if bounds else "-"
            grid.add_row(name, f"{value:.6g}", shown)
        out.print(grid)
    for line in _details(fit):
        out.print(line, markup=False)
    for warning in fit.get("warnings") or []:
        out.print(f"[yellow]warning:[/yellow] {warning}")
    if fit.get("error"):
        out.print(f"[red]error:[/red] {fit['error']}")
    if fit["status"] not in FIT_TERMINAL:
        done = (
            f", {fit.get('replicates_done', 0)} of {fit['bootstrap']} replicates done"
            if fit["bootstrap"]
            else ""
        )
        out.print(f"not finished{done}: hyperlaw fits show {fit['id']} later, or fits create --wait")
    elif fit.get("finished_at"):
        out.print(f"finished {when(fit['finished_at'])} UTC")


def _details(fit: dict[str, Any]) -> list[str]:
    """What a law kind adds beyond its parameters, a line each (--json gives all of it)."""
    lines = []
    if fit.get("variable"):
        lines.append(f"fitted against {fit['variable']}")
    lines += [f"held-out extrapolation: {line}" for line in holdouts.describe(fit.get("holdout"))]
    compared = holdouts.describe_candidates(fit.get("candidates"), fit.get("candidate_errors"))
    if compared:
        lines.append(f"candidates (held-out error): {compared}")
    if fit.get("form"):
        loso = fit.get("loso_error")
        lines.append(
            f"form {fit['form']}, bowl window {fit.get('window')}"
            + (f", leave-one-scale-out error {loso:.3g}" if loso is not None else "")
        )
    if (fit.get("context") or {}).get("note"):  # a μP study's LR law: why it has no N
        lines.append(fit["context"]["note"])
    if fit.get("optima"):
        lines.append(f"{len(fit['optima'])} sweep optima (--json lists them)")
    if fit.get("per_target"):
        lines.append(f"McCandlish fits at {len(fit['per_target'])} target losses (--json lists them)")
    return lines


@app.command("create")
def create(
    study: StudyArgument,
    law: Annotated[
        str,
        typer.Option(
            help="A loss law (chinchilla, chinchilla_equal, kaplan, power, auto), lr_opt, batch_opt, "
            "critical_batch, frontier_envelope or frontier_isoflop."
        ),
    ] = "chinchilla",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates (resampling runs).")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    form: Annotated[
        str | None,
        typer.Option(
            help="lr_opt / batch_opt: steplaw, deepseek, auto or tokens (a·D^c, no N); default tokens for "
            "a μP study's lr_opt, else auto."
        ),
    ] = None,
    window: Annotated[
        float | None, typer.Option(help="lr_opt / batch_opt: log-loss bowl window (default 0.02).")
    ] = None,
    runs: Annotated[
        str | None, typer.Option("--runs", help="Fit these finished runs only: ids such as 1,2,5..9.")
    ] = None,
    all_runs: Annotated[
        bool,
        typer.Option(
            "--all-runs",
            help="Loss laws: fit every run, not only each (N, D)'s best LR/batch setting (the default).",
        ),
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the fit is done, then print it.")] = False,
    timeout: Annotated[
        float | None, typer.Option(help="With --wait: give up waiting after this many seconds (exit 1).")
    ] = None,
    interval: Annotated[float, typer.Option(help="With --wait: seconds between looks at the fit.")] = 1.0,
    url: UrlOption = None,
    token: TokenOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fit a law to a study's finished runs; a failed fit exits 1 with its error."""
    from app import law_kinds

    if law not in law_kinds.laws():
        fail(f"law {law!r} is unknown: use one of {_laws()}")
    if not interval > 0:
        fail(f"--interval must be a positive number of seconds, got {interval:g}")
    if timeout is not None and not timeout > 0:
        fail(f"--timeout must be a positive number of seconds, got {timeout:g}")
    body: dict[str, Any] = {"law": law, "bootstrap": bootstrap, "seed": seed}
    for name, value in (("form", form), ("window", window)):
        if value is not None:
            body[name] = value
    if runs is not None:
        body["run_ids"] = parse_ids(runs, "--runs")
    if all_runs:
        body["runs"] = "all"
    with open_service(url, token, database_url) as service:
        found = service.find_study(study)
        with _spinner(f"{law} on study {found['name']}, {bootstrap} bootstrap replicates") as show:
            fit = service.create_fit(found["id"], body, compute=wait)
            started = time.monotonic()
            while wait and fit["status"] not in FIT_TERMINAL:
                if timeout is not None and time.monotonic() - started > timeout:
                    typer.echo(
                        f"fit {fit['id']} is still {fit['status']} after {timeout:g} s; it goes on: "
                        f"hyperlaw fits show {fit['id']}",
                        err=True,
                    )
                    raise typer.Exit(1)
                show(f"fit {fit['id']}: {fit['status']} {fit.get('progress', 0):.0%}")
                time.sleep(interval)
                fit = service.get_fit(fit["id"])
    if as_json:
        print_json(fit)
    elif fit["status"] in FIT_TERMINAL:
        print_fit(fit)
    else:
        # A fit worker computes it: a server's, or `hyperlaw worker`'s.
        typer.echo(f"fit {fit['id']} is {fit['status']} for a fit worker: hyperlaw fits show {fit['id']}")
    if fit["status"] == "failed":
        raise typer.Exit(1)


class _spinner:
    """A transient spinner with the elapsed time on stderr (nothing when stderr is not a terminal)."""

    def __init__(self, description: str) -> None:
        self.description = description

    def __enter__(self):
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        out = console(stderr=True)
        if not out.is_terminal:
            self.progress = None
            return lambda status: None
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=out,
            transient=True,
        )
        self.progress.start()
        task = self.progress.add_task(f"fitting {self.description}", total=None)

        def show(status: str) -> None:
            self.progress.update(task, description=f"{status} ({self.description})")

        return show

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()


@app.command("list")
def list_command(
    study: StudyArgument,
    law: Annotated[str | None, typer.Option(help="Only fits of this law.")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a study's fits, oldest first."""
    with open_service(url, token, database_url) as service:
        found = service.find_study(study)
        fits = service.list_fits(found["id"])
    if law is not None:
        fits = [f for f in fits if f["law"] == law]
    if as_json:
        print_json(fits)
    elif not fits:
        typer.echo(f"no fits of study {found['name']!r}" + (f" with law {law}" if law else ""))
    else:
        console().print(fits_table(fits, f"fits of study {found['name']} (id {found['id']})"))


@app.command("show")
def show(
    fit_id: Annotated[int, typer.Argument(help="The fit's id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a fit: its parameters with 95% intervals, diagnostics, warnings."""
    with open_service(url, token, database_url) as service:
        fit = service.get_fit(fit_id)
    if as_json:
        print_json(fit)
    else:
        print_fit(fit)


@app.command("cancel")
def cancel(
    fit_id: Annotated[int, typer.Argument(help="The fit's id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a queued or running fit (its worker stops at its next batch of replicates)."""
    with open_service(url, token, database_url) as service:
        fit = service.cancel_fit(fit_id)
    if as_json:
        print_json(fit)
    else:
        typer.echo(
            f"fit {fit['id']} cancelled ({fit['replicates_done']} of {fit['bootstrap']} replicates were done)"
        )


def register(cli: typer.Typer) -> None:
    """Add the fits command group to the CLI."""
    cli.add_typer(app, name="fits")
