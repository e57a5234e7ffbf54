"""`hyperlaw demo`: the whole loop on a laptop, and `--published`, the fit-only tour of the
published Chinchilla points.

The loop (app/demo.py does the work, this module prints): a study in a working folder's SQLite file,
real proxy runs on `pystdlib` trained by the local worker pool with a progress bar, the loss law and
the LR law fitted as the service fits them, the prediction for a model 10x larger than the largest
proxy with both intervals, and the HTML report with the command that shows it in the dashboard.

`--published` fits the Chinchilla law (Hoffmann et al. 2022, approach 3) to the 240 Fig. 4 runs
that Epoch AI reconstructed, with 1000 bootstrap replicates, and prints the law and its intervals
beside the published ones, its held-out extrapolation error and the compute-optimal allocation.
"""

from __future__ import annotations

import logging
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app import holdouts
from app.tabular import read_columns

if TYPE_CHECKING:
    from rich.console import Console

    from app import demo as demo_module

# Published values to print beside ours (Epoch AI 2024, Table 1 and its bootstrap; Hoffmann
# et al. 2022, eq. 10), so a reader sees at once whether the fit reproduces them.
EPOCH_ESTIMATE = {"E": 1.817, "A": 482.0, "B": 2085.4, "alpha": 0.3478, "beta": 0.3658}
EPOCH_CI95 = {
    "E": (1.769, 1.871),
    "A": (285.2, 743.6),
    "B": (1042.4, 5810.3),
    "alpha": (0.317, 0.373),
    "beta": (0.331, 0.415),
}
HOFFMANN_ESTIMATE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
BUDGETS = (1e21, 1e23, 5.76e23, 1e25)  # 5.76e23 FLOPs: Chinchilla's own budget (Hoffmann et al. 2022)


def load_example_runs() -> dict[str, Any]:
    """The embedded Chinchilla runs, with the 5 outliers Epoch drops removed."""
    text = resources.files("app").joinpath("data/chinchilla_epoch/chinchilla_fig4_points.csv").read_text()
    table = read_columns(text, ["N_params", "D_tokens", "loss", "epoch_outlier_excluded"], "example data")
    keep = table["epoch_outlier_excluded"] == 0
    return {"N": table["N_params"][keep], "D": table["D_tokens"][keep], "loss": table["loss"][keep]}


def _interval(lo: float | None, hi: float | None, digits: str = ".4g") -> str:
    low = "-inf" if lo is None else f"{lo:{digits}}"
    high = "unbounded" if hi is None else f"{hi:{digits}}"
    return f"{low} .. {high}"


# ------------------------------------------------------------------------------ --published


def published(console: Console, bootstrap: int, seed: int) -> None:
    """Fit the Chinchilla law to the embedded published runs and print it beside the published fits."""
    from rich.table import Table

    import fitting

    runs = load_example_runs()
    console.print(
        f"[bold]hyperlaw demo --published[/bold]: {runs['N'].size} Chinchilla runs (Hoffmann et al. "
        "2022, Fig. 4, as reconstructed by Epoch AI 2024), N from "
        f"{runs['N'].min():.2g} to {runs['N'].max():.2g} parameters"
    )
    started = time.perf_counter()
    fit = fitting.fit(
        "chinchilla", N=runs["N"], D=runs["D"], loss=runs["loss"], bootstrap=bootstrap, seed=seed
    )
    elapsed = time.perf_counter() - started

    table = Table(title="L(N, D) = E + A/N^alpha + B/D^beta, Huber (1e-3) on log loss")
    for column in ("param", "hyperlaw", "95% interval", "Epoch", "Epoch 95%", "Hoffmann"):
        table.add_column(column, justify="right")
    intervals = fit.ci(0.95) if bootstrap else {}
    for name, value in fit.params.items():
        ours = intervals.get(name)
        table.add_row(
            name,
            f"{value:.4g}",
            _interval(*ours) if ours else "-",
            f"{EPOCH_ESTIMATE[name]:.4g}",
            _interval(*EPOCH_CI95[name]),
            f"{HOFFMANN_ESTIMATE[name]:.4g}",
        )
    console.print(table)
    console.print(
        f"fit: objective {fit.objective:.10g}, {fit.n_bootstrap} bootstrap replicates "
        f"({fit.n_failed_replicates} failed) in {elapsed:.2f} s"
    )
    for line in holdouts.describe(fit.holdout.to_dict() if fit.holdout else None):
        console.print(f"extrapolation: {line}")

    allocation = fitting.optimal_allocation(fit, compute=list(BUDGETS))
    plan = Table(title="Compute-optimal allocation (C = 6ND), 95% intervals below each value")
    for column in ("compute", "N_opt (params)", "D_opt (tokens)", "tokens/param", "loss"):
        plan.add_column(column, justify="right")
    for i, budget in enumerate(BUDGETS):
        cells = []
        for estimate in (
            allocation.n_params,
            allocation.tokens,
            allocation.tokens_per_param,
            allocation.loss,
        ):
            cells.append(f"{estimate.value[i]:.3g}\n{estimate.lo[i]:.3g} .. {estimate.hi[i]:.3g}")
        plan.add_row(f"{budget:.3g}", *cells)
    console.print(plan)
    a = allocation.exponent_n
    console.print(
        f"N_opt ∝ C^a with a = {a.value[0]:.3f} ({a.lo[0]:.3f} .. {a.hi[0]:.3f}); "
        "Hoffmann et al. report 0.454 .. 0.455 for approach 3"
    )
    chinchilla = fit.predict(N=70e9, D=1.4e12)
    console.print(
        f"predicted loss of Chinchilla itself (70B parameters, 1.4T tokens): {chinchilla.value:.3f} "
        f"({chinchilla.lo:.3f} .. {chinchilla.hi:.3f})"
    )
    for warning in fit.warnings + allocation.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


# ------------------------------------------------------------------------------ the loop


def _train_with_progress(
    console: Console, settings: Any, database: Any, study: demo_module.DemoStudy, workers: int
) -> demo_module.Progress:
    """Train the study's runs with the local pool behind a rich progress bar (runs and tokens)."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from app import demo

    columns = (
        TextColumn("[bold]training"),
        BarColumn(bar_width=30),
        TaskProgressColumn(),
        TextColumn("{task.fields[runs]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("training", total=1.0, runs="")

        def show(now: demo.Progress) -> None:
            share = now.tokens_done / now.tokens_total if now.tokens_total else 0.0
            running = now.by_status.get("running", 0)
            label = f"{now.finished}/{now.total} runs, {running} running"
            if now.unsuccessful:
                label += f", {now.unsuccessful} failed"
            bar.update(task, completed=min(share, 1.0), runs=label)

        return demo.train(settings, database, study.id, concurrency=workers, on_progress=show)


def _print_fit(console: Console, title: str, outcome: demo_module.FitOutcome) -> None:
    from rich.table import Table

    if not outcome.ok:
        reason = outcome.error or outcome.status
        console.print(f"[yellow]{title}: not fitted[/yellow]: {reason}", highlight=False)
        return
    table = Table(title=f"{title}: {outcome.law} (fit {outcome.fit_id}, {outcome.seconds:.1f} s)")
    table.add_column("parameter")
    table.add_column("estimate", justify="right")
    table.add_column("95% interval", justify="right")
    for name, value in outcome.params.items():
        bounds = outcome.ci95.get(name)
        table.add_row(name, f"{value:.4g}", _interval(*bounds) if bounds else "-")
    console.print(table)
    for warning in outcome.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


def _print_prediction(
    console: Console, answer: dict[str, Any] | None, n_params: float, tokens: float
) -> None:
    from rich.table import Table

    from app.predictions import prediction_rows

    if answer is None:
        console.print("[yellow]no prediction[/yellow]: no law could be fitted")
        return
    table = Table(
        title=f"Prediction for N = {n_params:.3g}, D = {tokens:.3g} ({demo_target_note()}), 95% intervals"
    )
    table.add_column("quantity")
    table.add_column("estimate", justify="right")
    table.add_column("95% interval", justify="right")
    for name, interval in prediction_rows(answer):
        if interval is None:
            continue
        table.add_row(name, f"{interval['value']:.4g}", _interval(interval.get("lo"), interval.get("hi")))
    console.print(table)
    for warning in answer["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


def demo_target_note() -> str:
    from app.demo import TARGET_SCALE

    return f"{TARGET_SCALE:g}x the largest proxy's N and D"


def loop(console: Console, *, quick: bool, folder: Path, database_url: str | None, workers: int) -> None:
    """Create, train, fit, predict and report; each step's result printed as it comes."""
    from app import demo
    from app.cli.fit import fail

    design = demo.DESIGNS["quick" if quick else "full"]
    started = time.perf_counter()
    try:
        settings, database = demo.open_folder(folder, database_url)
    except (OSError, ValueError) as error:
        fail(f"cannot open the demo's database in {folder}: {str(error).splitlines()[0]}")
    # The workers' and fits' log lines (a fit that fails logs its traceback) go to a file: the
    # terminal shows each step's outcome in words.
    logging.basicConfig(
        filename=folder / "demo.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        study = demo.create_study(database, design)
        console.print(
            f"[bold]hyperlaw demo[/bold] ({design.name}): study {study.name!r} (id {study.id}) in "
            f"{settings.database_url}",
            highlight=False,
        )
        console.print(f"plan: {design.describe()} Trained {workers} at a time on CPU.", highlight=False)
        try:
            final = _train_with_progress(console, settings, database, study, workers)
        except KeyboardInterrupt:
            # The pool has checkpointed and released the runs in flight: a worker can finish them.
            typer.echo(
                f"interrupted: the study's unfinished runs stay queued; `hyperlaw worker --database-url "
                f"{settings.database_url}` trains them",
                err=True,
            )
            raise typer.Exit(code=130) from None
        console.print(
            f"trained {final.by_status.get('done', 0)} of {final.total} runs "
            f"in {time.perf_counter() - started:.0f} s",
            highlight=False,
        )
        if final.finished < final.total:
            fail(f"training stopped with {final.total - final.finished} runs unfinished")

        outcomes = demo.fit_laws(database, settings, study, design)
        _print_fit(console, "Loss law", outcomes["loss"])
        _print_fit(console, "LR law", outcomes["lr"])

        largest_n, largest_d = demo.largest_proxy(design)
        n_params, tokens = demo.TARGET_SCALE * largest_n, demo.TARGET_SCALE * largest_d
        _print_prediction(console, demo.predict(database, study.id, n_params, tokens), n_params, tokens)

        report = (folder / f"{study.name}-report.html").resolve()
        plots = demo.write_report(database, study.id, n_params, tokens, report)
    finally:
        database.dispose()
    console.print(f"report: {report} ({plots} plots)", highlight=False)
    console.print("dashboard: run", highlight=False)
    console.print(f"  hyperlaw serve --database-url {settings.database_url}", highlight=False, soft_wrap=True)
    console.print(f"then open http://127.0.0.1:8000/studies/{study.id}", highlight=False)
    console.print(f"demo finished in {time.perf_counter() - started:.0f} s", highlight=False)


def register(cli: typer.Typer) -> None:
    """Add the demo command to the CLI."""

    @cli.command("demo")
    def demo_command(
        quick: Annotated[bool, typer.Option("--quick", help="Fewer, smaller runs: about 2 minutes.")] = False,
        use_published: Annotated[
            bool,
            typer.Option("--published", help="Only fit the published Chinchilla points (no training)."),
        ] = False,
        folder: Annotated[
            Path, typer.Option("--dir", help="Working folder: the SQLite database, checkpoints, report.")
        ] = Path("hyperlaw-demo"),
        database_url: Annotated[
            str | None, typer.Option("--database-url", help="Use this database instead of DIR/hyperlaw.db.")
        ] = None,
        workers: Annotated[int, typer.Option("--workers", min=1, help="Runs trained at once.")] = 2,
        bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates (--published).")] = 1000,
        seed: Annotated[int, typer.Option(help="Seed of the bootstrap (--published).")] = 0,
    ) -> None:
        """Train a small sweep, fit the loss and LR laws, predict 10x larger and write the report."""
        from rich.console import Console

        from app.cli.fit import fail

        console = Console()
        if use_published:
            if quick:
                fail("--quick trains proxies; --published fits the published points: pick one")
            published(console, bootstrap, seed)
            return
        loop(console, quick=quick, folder=folder, database_url=database_url, workers=workers)
