"""`hyperlaw demo`: the main job on the embedded example data, end to end on a laptop.

Fits the Chinchilla law (Hoffmann et al. 2022, approach 3) to the 240 Fig. 4 runs that Epoch AI
reconstructed, with 1000 bootstrap replicates, and prints the law, its intervals beside the
published ones, its held-out extrapolation error and the compute-optimal allocation.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Annotated, Any

import typer

from app.tabular import read_columns

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


def _interval(lo: float, hi: float) -> str:
    return f"{lo:.4g} .. {hi:.4g}"


def register(cli: typer.Typer) -> None:
    """Add the demo command to the CLI."""

    @cli.command("demo")
    def demo_command(
        bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates.")] = 1000,
        seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    ) -> None:
        """Fit the Chinchilla law to the embedded example runs and print predictions with intervals."""
        from rich.console import Console
        from rich.table import Table

        import fitting

        console = Console()
        runs = load_example_runs()
        console.print(
            f"[bold]hyperlaw demo[/bold]: {runs['N'].size} Chinchilla runs (Hoffmann et al. 2022, Fig. 4, "
            "as reconstructed by Epoch AI 2024), N from "
            f"{runs['N'].min():.2g} to {runs['N'].max():.2g} parameters"
        )
        started = time.perf_counter()
        fit = fitting.fit(
            "chinchilla", N=runs["N"], D=runs["D"], loss=runs["loss"], bootstrap=bootstrap, seed=seed
        )
        elapsed = time.perf_counter() - started

        table = Table(title="L(N, D) = E + A/N^alpha + B/D^beta, Huber (delta 1e-3) on log loss")
        for column in ("parameter", "hyperlaw", "95% interval", "Epoch 2024", "Epoch 95%", "Hoffmann 2022"):
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
        if fit.holdout:
            console.print(
                f"extrapolation: refitted without the {fit.holdout.n_heldout} largest-compute runs, the law "
                f"predicts them within {fit.holdout.relative_error:.2%} on average "
                f"(worst {fit.holdout.max_relative_error:.2%})"
            )

        allocation = fitting.optimal_allocation(fit, compute=list(BUDGETS))
        plan = Table(title="Compute-optimal allocation (C = 6ND), 95% intervals")
        for column in ("compute (FLOPs)", "N_opt (params)", "D_opt (tokens)", "tokens/param", "loss"):
            plan.add_column(column, justify="right")
        for i, budget in enumerate(BUDGETS):
            cells = []
            for estimate in (
                allocation.n_params,
                allocation.tokens,
                allocation.tokens_per_param,
                allocation.loss,
            ):
                cells.append(f"{estimate.value[i]:.3g} ({estimate.lo[i]:.3g} .. {estimate.hi[i]:.3g})")
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
