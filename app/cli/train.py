"""`hyperlaw train`: train one proxy model, show its progress, write its loss curve.

torch and trainer.train are imported inside the command, so `hyperlaw --help` and the other
commands start without paying for torch.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

CURVE_COLUMNS = ("step", "tokens", "train_loss", "eval_loss", "lr", "noise_scale", "wall_time")


def _count(name: str, value: float | None) -> int | None:
    """Accept 2e7-style numbers for counts, refusing fractions."""
    if value is None:
        return None
    if not math.isfinite(value) or value != int(value):
        raise ValueError(f"{name} ({value}) must be a whole number")
    return int(value)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _memory_of(device: str) -> tuple[float, str] | None:
    """Bytes the run's device offers and its name: the GPU's memory when the run will use CUDA, else
    the host's physical memory; None when unknown."""
    import torch

    if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            return None  # the trainer names a missing GPU itself
        index = int(device.partition(":")[2] or 0)
        return float(torch.cuda.get_device_properties(index).total_memory), f"GPU {index}"
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")), "this machine"
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows)
        return None


def _check_memory(spec: Any) -> None:
    """Refuse at once a run whose estimated training memory (app.specs.memory_estimate: weights,
    gradients, AdamW moments and activations) exceeds the device's, instead of allocating until the
    system kills it."""
    from app.specs import memory_estimate

    available = _memory_of(spec.device)
    needed = memory_estimate(spec)
    if available is not None and needed > available[0]:
        raise _fail(
            f"the run needs about {needed / 1e9:.3g} GB to train and {available[1]} has "
            f"{available[0] / 1e9:.3g} GB: use a smaller --params (or --n-layer/--d-model) or "
            "--micro-batch-tokens"
        )


def train_command(
    tokens: Annotated[float, typer.Option(help="Training tokens (2e7 style accepted).")],
    batch_tokens: Annotated[float, typer.Option(help="Tokens per optimizer step.")],
    lr: Annotated[float, typer.Option(help="Peak learning rate.")],
    params: Annotated[
        float | None, typer.Option(help="Target non-embedding parameters; picks the shape (aspect ratio 64).")
    ] = None,
    n_layer: Annotated[int | None, typer.Option(help="Layers (instead of --params).")] = None,
    d_model: Annotated[int | None, typer.Option(help="Model width.")] = None,
    n_head: Annotated[int | None, typer.Option(help="Attention heads.")] = None,
    seq_len: Annotated[int, typer.Option(help="Context length.")] = 256,
    data: Annotated[
        str, typer.Option(help="pystdlib, synthetic:markov[-V-K], text:PATH or tokens:PATH.")
    ] = "pystdlib",
    vocab_size: Annotated[int | None, typer.Option(help="Vocabulary size (for tokens:PATH).")] = None,
    schedule: Annotated[str, typer.Option(help="cosine, wsd or constant.")] = "cosine",
    warmup_tokens: Annotated[float | None, typer.Option(help="Linear warmup length in tokens.")] = None,
    weight_decay: Annotated[float, typer.Option(help="AdamW decoupled weight decay.")] = 0.1,
    grad_clip: Annotated[float, typer.Option(help="Gradient-norm clip (0 disables).")] = 1.0,
    mlp: Annotated[str, typer.Option(help="gelu or swiglu.")] = "gelu",
    untied: Annotated[bool, typer.Option("--untied", help="Untie input and output embeddings.")] = False,
    qk_norm: Annotated[
        bool, typer.Option("--qk-norm", help="LayerNorm on each head's queries and keys (qk-layernorm).")
    ] = False,
    micro_batch_tokens: Annotated[float | None, typer.Option(help="Tokens per forward+backward.")] = None,
    eval_every_tokens: Annotated[float | None, typer.Option(help="Evaluate every this many tokens.")] = None,
    eval_tokens: Annotated[float | None, typer.Option(help="Held-out tokens per evaluation.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for initialisation and data order.")] = 0,
    device: Annotated[str, typer.Option(help="auto (cuda > mps > cpu), cpu, mps, cuda or cuda:N.")] = "auto",
    compile_model: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    parametrization: Annotated[
        str,
        typer.Option(
            help="sp (standard) or mup (Yang et al. 2022): under mup --lr is the LR tuned at "
            "--base-d-model and the trainer scales it per layer, so one LR serves every width."
        ),
    ] = "sp",
    base_d_model: Annotated[
        int | None,
        typer.Option(help="mup: the width the LR is tuned at (default: this run's --d-model)."),
    ] = None,
    output_multiplier: Annotated[
        float,
        typer.Option(
            help="alpha_output, the logits' multiplier (Tensor Programs V); under mup its value at "
            "the base width, tuned there with the LR."
        ),
    ] = 1.0,
    out: Annotated[Path | None, typer.Option(help="Write the loss curve here as CSV.")] = None,
    checkpoint_dir: Annotated[Path | None, typer.Option(help="Write checkpoints here.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the checkpoint in --checkpoint-dir.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Train one proxy GPT and stream its loss curve."""
    from trainer import RunSpec, shape_for_params
    from trainer.spec import PARAMETRIZATIONS

    try:
        if parametrization not in PARAMETRIZATIONS:
            raise ValueError(
                f"--parametrization {parametrization!r} is unknown: use {' or '.join(PARAMETRIZATIONS)}"
            )
        if base_d_model is not None and parametrization != "mup":
            raise ValueError(
                "--base-d-model applies to --parametrization mup only: add it, or drop --base-d-model"
            )
        if params is not None:
            if any(v is not None for v in (n_layer, d_model, n_head)):
                raise ValueError("give either --params or --n-layer/--d-model/--n-head, not both")
            shape = dataclasses.asdict(shape_for_params(params, mlp=mlp))
        elif None in (n_layer, d_model, n_head):
            raise ValueError("give --params, or all of --n-layer, --d-model and --n-head")
        else:
            shape = {"n_layer": n_layer, "d_model": d_model, "n_head": n_head}
        spec = RunSpec(
            **shape,
            tokens=_count("tokens", tokens),
            batch_tokens=_count("batch_tokens", batch_tokens),
            lr=lr,
            seq_len=seq_len,
            data=data,
            vocab_size=vocab_size,
            schedule=schedule,
            warmup_tokens=_count("warmup_tokens", warmup_tokens),
            weight_decay=weight_decay,
            grad_clip=grad_clip,
            mlp=mlp,
            tied_embeddings=not untied,
            qk_norm=qk_norm,
            micro_batch_tokens=_count("micro_batch_tokens", micro_batch_tokens),
            eval_every_tokens=_count("eval_every_tokens", eval_every_tokens),
            eval_tokens=_count("eval_tokens", eval_tokens),
            seed=seed,
            device=device,
            compile=compile_model,
            parametrization=parametrization,
            base_d_model=base_d_model,
            output_multiplier=output_multiplier,
        )
        if resume and checkpoint_dir is None:
            raise ValueError("--resume needs --checkpoint-dir")
    except ValueError as err:
        raise _fail(str(err)) from None
    _check_memory(spec)

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from trainer import train

    console = Console(stderr=True)
    writer = None
    handle = None
    if out is not None:
        appending = resume and out.exists()
        try:
            handle = open(out, "a" if appending else "w", newline="")  # noqa: SIM115 (closed below)
        except OSError as err:  # a missing folder, a directory, no permission: before any training
            raise _fail(
                f"cannot write the curve to {out}: {err.strerror or err}: create its folder or pick another --out"
            ) from None
        writer = csv.writer(handle)
        if not appending:
            writer.writerow(CURVE_COLUMNS)

    progress = Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} tok"),
        TextColumn("{task.fields[speed]} tok/s"),
        TextColumn("loss {task.fields[loss]}"),
        TimeRemainingColumn(),
        console=console,
        disable=as_json and not console.is_terminal,
    )
    task = progress.add_task("train", total=spec.steps * spec.tokens_per_step, speed="-", loss="-")

    def on_point(point: Any) -> None:
        if writer is not None and handle is not None:
            writer.writerow(_csv_row(point))
            handle.flush()
        speed = point.tokens / point.wall_time if point.wall_time > 0 else 0.0
        loss = f"{point.train_loss:.4f}"
        if point.eval_loss is not None:
            loss += f" (eval {point.eval_loss:.4f})"
        progress.update(task, completed=point.tokens, speed=f"{speed:,.0f}", loss=loss)

    try:
        with progress:
            result = train(spec, on_point=on_point, checkpoint_dir=checkpoint_dir, resume=resume)
    except ValueError as err:
        raise _fail(str(err)) from None
    finally:
        if handle is not None:
            handle.close()

    summary = {k: v for k, v in dataclasses.asdict(result).items() if k != "curve"}
    summary["spec"] = spec.to_dict()
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        eval_loss = "-" if result.final_eval_loss is None else f"{result.final_eval_loss:.4f}"
        console.print(
            f"{result.status}: {result.steps} steps, {result.tokens:,} tokens, eval loss {eval_loss}, "
            f"{result.tokens_per_second:,.0f} tok/s on {result.device}"
            + (f" ({result.message})" if result.message else "")
        )


def _csv_row(point: Any) -> list[Any]:
    return ["" if getattr(point, c) is None else getattr(point, c) for c in CURVE_COLUMNS]


def register(cli: typer.Typer) -> None:
    """Add the train command to the CLI."""
    cli.command("train")(train_command)
