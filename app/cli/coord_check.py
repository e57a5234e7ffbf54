"""`hyperlaw coord-check`: train a few steps at several widths and show whether activations keep
their scale (trainer.coord_check): flat in width under mup, growing under sp.

torch is imported inside the command, so `hyperlaw --help` does not pay for it.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _ints(name: str, text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--{name} must be comma-separated integers, such as 32,64,128,256") from None
    return values


def coord_check_command(
    widths: Annotated[
        str, typer.Option(help="Comma-separated d_model values, at least two.")
    ] = "32,64,128,256",
    parametrization: Annotated[str, typer.Option(help="sp, mup or both.")] = "both",
    base_d_model: Annotated[
        int | None, typer.Option(help="mup's base width (default: the smallest width).")
    ] = None,
    steps: Annotated[int, typer.Option(help="Adam steps before measuring.")] = 10,
    lr: Annotated[float, typer.Option(help="Constant learning rate (at the base width under mup).")] = 3e-3,
    n_layer: Annotated[int, typer.Option(help="Layers (fixed across widths).")] = 2,
    n_head: Annotated[int, typer.Option(help="Attention heads (fixed: d_head grows with width).")] = 2,
    seq_len: Annotated[int, typer.Option(help="Context length.")] = 32,
    batch_tokens: Annotated[int, typer.Option(help="Tokens per optimizer step.")] = 512,
    data: Annotated[
        str, typer.Option(help="pystdlib, synthetic:markov[-V-K], text:PATH or tokens:PATH.")
    ] = "pystdlib",
    vocab_size: Annotated[int | None, typer.Option(help="Vocabulary size (for tokens:PATH).")] = None,
    untied: Annotated[bool, typer.Option("--untied", help="Untie input and output embeddings.")] = False,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds; scales are averaged over them.")] = "0",
    device: Annotated[str, typer.Option(help="auto (cuda > mps > cpu), cpu, mps, cuda or cuda:N.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the scales and slopes as JSON.")] = False,
) -> None:
    """Mean |x| of the embedding, each block's output and the logits after a few steps at each width,
    and each one's slope of log scale against log width: about 0 when μP holds, about 1 under sp."""
    from trainer import RunSpec

    try:
        width_list = sorted(set(_ints("widths", widths)))
        seed_list = _ints("seeds", seeds)
        if len(width_list) < 2:
            raise ValueError("--widths needs at least two distinct widths to fit a slope")
        if parametrization not in ("sp", "mup", "both"):
            raise ValueError(f"--parametrization {parametrization!r} is unknown: use sp, mup or both")
        if steps < 1:
            raise ValueError(f"--steps ({steps}) must be at least 1")
        names = ("sp", "mup") if parametrization == "both" else (parametrization,)
        specs = {
            name: RunSpec(
                n_layer=n_layer,
                d_model=width_list[0],
                n_head=n_head,
                seq_len=seq_len,
                tokens=steps * batch_tokens,
                batch_tokens=batch_tokens,
                lr=lr,
                data=data,
                vocab_size=vocab_size,
                tied_embeddings=not untied,
                device=device,
                parametrization=name,
                base_d_model=(base_d_model or width_list[0]) if name == "mup" else None,
            )
            for name in names
        }
        for width in width_list:
            if width % n_head:
                raise ValueError(f"width {width} is not divisible by --n-head ({n_head})")
    except ValueError as err:
        raise _fail(str(err)) from None

    from trainer.coord_check import coord_check, slopes

    results = {}
    for name, spec in specs.items():
        try:
            checks = coord_check(spec, width_list, steps=steps, seeds=seed_list)
        except ValueError as err:
            raise _fail(f"{name}: {err}") from None
        results[name] = {
            "widths": {str(c.d_model): c.scales for c in checks},
            "slopes": slopes(checks),
        }
    if as_json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
        return
    for name, result in results.items():
        layers = list(result["slopes"])
        typer.echo(f"{name}: mean |x| after {steps} steps at lr {lr:g}")
        typer.echo("  " + f"{'d_model':>8}" + "".join(f"{layer:>11}" for layer in layers))
        for width, scales in result["widths"].items():
            typer.echo("  " + f"{width:>8}" + "".join(f"{scales[layer]:>11.4g}" for layer in layers))
        typer.echo("  " + f"{'slope':>8}" + "".join(f"{result['slopes'][layer]:>11.2f}" for layer in layers))


def register(cli: typer.Typer) -> None:
    """Add the coord-check command to the CLI."""
    cli.command("coord-check")(coord_check_command)
