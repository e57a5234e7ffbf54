"""`hyperlaw plan`: propose proxy runs for a budget and a target (app/plan), print them with their
cost, and with --submit queue them in the study (app.runs.submit_plan, as the API does), working on
the database directly."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from app.cli.options import DatabaseUrlOption, JsonOption


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _print_plan(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    budget, target = result["budget"], result["target"]
    iso = Table(title="IsoFLOP design (loss law)")
    for column in ("budget FLOPs", "N_opt", "shapes L×d/h", "tokens", "batch", "lr", "GPU-h"):
        iso.add_column(column, justify="left" if column.startswith("shapes") else "right")
    for group in result["isoflop"]:
        specs = [r["spec"] for r in group["runs"]]
        iso.add_row(
            f"{group['budget_flops']:.3g}",
            f"{group['n_params_optimal']:.3g}",
            ", ".join(f"{s['n_layer']}×{s['d_model']}/{s['n_head']}" for s in specs),
            f"{min(s['tokens'] for s in specs):.2g}-{max(s['tokens'] for s in specs):.2g}",
            ", ".join(sorted({str(s["batch_tokens"]) for s in specs}, key=int)),
            f"{specs[0]['lr']:.3g}",
            f"{sum(r['gpu_hours'] for r in group['runs']):.3g}",
        )
    console.print(iso)
    hp = Table(title="LR × batch grids (hyperparameter laws)")
    for column in ("FLOPs a run", "shape", "tokens", "lr", "batch tokens", "runs", "GPU-h"):
        hp.add_column(column, justify="right")
    for group in result["hparams"]:
        spec = group["runs"][0]["spec"]
        hp.add_row(
            f"{group['flops_per_run']:.3g}",
            f"{spec['n_layer']}×{spec['d_model']}/{spec['n_head']}",
            f"{spec['tokens']:.3g}",
            ", ".join(f"{x:.2g}" for x in group["lr"]),
            ", ".join(str(b) for b in group["batch_tokens"]),
            str(len(group["runs"])),
            f"{sum(r['gpu_hours'] for r in group['runs']):.3g}",
        )
    console.print(hp)
    cost = Table(title=f"cost at {budget['flops_per_gpu_s']:.3g} FLOP/s per GPU")
    for column in ("part", "runs", "FLOPs", "GPU-hours", "share of budget"):
        cost.add_column(column, justify="right")
    for name, part in [*result["parts"].items(), ("total", result["total"])]:
        cost.add_row(
            name,
            str(part["runs"]),
            f"{part['flops']:.3g}",
            f"{part['gpu_hours']:.3g}",
            f"{part['share']:.1%}",
        )
    console.print(cost)
    console.print(
        f"budget {budget['flops']:.3g} FLOPs ({budget['gpu_hours']:.3g} GPU-hours); target N {target['n_params']:.3g}, "
        f"D {target['tokens']:.3g}, {target['flops']:.3g} FLOPs = {result['extrapolation']:.3g}x the largest proxy"
    )
    for note in result.get("notes", ()):
        console.print(f"note: {note}", markup=False)
    for warning in result["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    if result.get("ids"):
        state = "queued" if result["created"] else "already queued by this idempotency key"
        console.print(f"{len(result['ids'])} runs {state}: ids {result['ids'][0]}..{result['ids'][-1]}")


def plan_command(
    study: Annotated[str, typer.Option(help="Study id or name; its defaults fill seq_len, data, vocab.")],
    n_params: Annotated[float, typer.Option(help="The target's non-embedding parameters (1e8 style).")],
    tokens: Annotated[float, typer.Option(help="The target's training tokens.")],
    budget_flops: Annotated[float | None, typer.Option(help="Proxy budget in FLOPs.")] = None,
    gpu_hours: Annotated[float | None, typer.Option(help="Proxy budget in GPU-hours (instead).")] = None,
    flops_per_gpu_s: Annotated[
        float, typer.Option(help="Throughput per GPU; 4e14 is 40% MFU of an H100's dense bf16 peak.")
    ] = 4e14,
    seq_len: Annotated[int | None, typer.Option(help="Context length (default: the study's).")] = None,
    vocab_size: Annotated[int | None, typer.Option(help="Vocabulary size (default: the study's).")] = None,
    data: Annotated[str | None, typer.Option(help="Data source (default: the study's).")] = None,
    parametrization: Annotated[
        str | None,
        typer.Option(
            help="sp or mup (default: the study's); mup: the LR grids train at the base width and spend "
            "their compute on tokens."
        ),
    ] = None,
    base_d_model: Annotated[
        int | None, typer.Option(help="mup: the base width (default: the study's, else chosen).")
    ] = None,
    isoflop_budgets: Annotated[int, typer.Option(help="IsoFLOP budgets (at least 3).")] = 4,
    shapes_per_budget: Annotated[int, typer.Option(help="Shapes per IsoFLOP budget (at least 3).")] = 5,
    hparam_scales: Annotated[int, typer.Option(help="Scales of the LR × batch grids (at least 3).")] = 3,
    lr_k: Annotated[int, typer.Option(help="LRs each side of the prior (factor 2).")] = 2,
    batch_k: Annotated[int, typer.Option(help="Batch sizes each side of the prior (factor 2).")] = 1,
    submit: Annotated[bool, typer.Option("--submit", help="Queue the runs in the study.")] = False,
    idempotency_key: Annotated[
        str | None, typer.Option(help="With --submit: the same key again queues nothing new.")
    ] = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Propose proxy runs (an IsoFLOP design and LR × batch grids) within a budget, with their cost."""
    from sqlalchemy.exc import SQLAlchemyError

    from app import plan, runs, studies
    from app.db import Database
    from app.errors import HyperlawError
    from app.settings import load_settings

    if parametrization is not None and parametrization not in ("sp", "mup"):
        raise _fail(f"--parametrization {parametrization!r} is unknown: use sp or mup")
    settings = load_settings(database_url=database_url)
    database = Database(settings.database_url)
    try:
        with database.transaction(immediate=submit) as session:
            planned = runs.submit_plan(
                session=session,
                study=studies.find_study(session=session, ref=study),
                n_params=n_params,
                tokens=tokens,
                budget_flops=budget_flops,
                gpu_hours=gpu_hours,
                flops_per_gpu_s=flops_per_gpu_s,
                seq_len=seq_len,
                vocab_size=vocab_size,
                data=data,
                parametrization=parametrization,
                base_d_model=base_d_model,
                design=plan.Design(isoflop_budgets, shapes_per_budget, hparam_scales, lr_k, batch_k),
                dry_run=not submit,
                idempotency_key=idempotency_key,
                cap=settings.sweep_cap,
            )
    except HyperlawError as error:
        raise _fail(str(error)) from None
    except SQLAlchemyError as error:
        raise _fail(
            f"cannot use the database at {settings.database_url}: {type(error).__name__} "
            "(run `hyperlaw db upgrade` first?)"
        ) from None
    finally:
        database.dispose()
    result = planned.to_dict()
    if as_json:
        typer.echo(json.dumps(result))
    else:
        _print_plan(result)


def register(cli: typer.Typer) -> None:
    """Add the plan command to the CLI."""
    cli.command("plan")(plan_command)
