"""The coordinate check: do activations keep their scale as the model widens?

Yang et al. 2022 ("Tensor Programs V") and their mup package test a μP implementation by training a few
steps at several widths and plotting each layer's mean |x|: under μP every curve is flat in width;
under the standard parametrization the logits and hidden activations grow with width once Adam
has updated the weights (an update of size lr per entry, summed over `width` correlated terms, moves
a coordinate by ~lr·width). `coord_check` measures those scales and `slopes` their growth exponent.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from trainer.data import source_for
from trainer.loop import build_optimizer, pick_device
from trainer.model import GPT, GPTConfig
from trainer.spec import RunSpec


@dataclass(frozen=True)
class WidthScales:
    """Mean |x| per layer after `steps` optimizer steps at one width. Layers: "embedding" (token plus
    position embedding), "block0", "block1", ... (each block's output) and "logits" (with the
    mup readout multiplier, as the loss sees them)."""

    d_model: int
    steps: int
    scales: dict[str, float]


def coord_check(
    spec: RunSpec, widths: Sequence[int], *, steps: int = 10, seeds: Sequence[int] = (0,)
) -> list[WidthScales]:
    """Train `spec` at each width for `steps` steps at the constant LR spec.lr and measure its layers'
    mean |x| on the next batch, averaged over `seeds`. Every other field comes from `spec`; under
    mup the base width is spec.base_d_model, or spec.d_model when unset, at every width.

    The LR is constant (no warmup, no decay) as in Tensor Programs V's coordinate checks, so every
    width sees the same updates; gradients are clipped as the trainer does.
    """
    if steps < 1:
        raise ValueError(f"steps ({steps}) must be >= 1")
    base = spec.base_d_model or spec.d_model if spec.parametrization == "mup" else None
    out = []
    for width in widths:
        per_seed = [
            _scales_after(
                dataclasses.replace(
                    spec,
                    d_model=width,
                    base_d_model=base,
                    seed=seed,
                    tokens=steps * spec.batch_tokens,
                    micro_batch_tokens=None,
                ),
                steps,
            )
            for seed in seeds
        ]
        layers = per_seed[0].keys()
        mean = {layer: float(np.mean([s[layer] for s in per_seed])) for layer in layers}
        out.append(WidthScales(d_model=width, steps=steps, scales=mean))
    return out


def slopes(checks: Sequence[WidthScales]) -> dict[str, float]:
    """Per layer, the least-squares slope of log mean|x| against log width: 0 when the scale is flat
    in width, 1 when it grows in proportion to it."""
    if len(checks) < 2:
        raise ValueError("a slope needs at least two widths")
    log_width = np.log([c.d_model for c in checks])
    return {
        layer: float(np.polyfit(log_width, np.log([c.scales[layer] for c in checks]), 1)[0])
        for layer in checks[0].scales
    }


def _scales_after(spec: RunSpec, steps: int) -> dict[str, float]:
    """Train one model `steps` steps on the spec's device and measure its layers."""
    device = pick_device(spec.device)
    source = source_for(spec)
    torch.manual_seed(spec.seed)
    model = GPT(GPTConfig.from_spec(spec)).to(device)
    optimizer = build_optimizer(model, spec, device)
    params = [p for p in model.parameters() if p.requires_grad]

    def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        b = source.train_batch(spec.seed, step, spec.batch_size, spec.seq_len)
        return torch.from_numpy(b.x).to(device), torch.from_numpy(b.y).to(device)

    for step in range(steps):
        x, y = batch(step)
        model(x, y).backward()
        if spec.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, spec.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    scales: dict[str, float] = {}
    hooks = [model.blocks[0].register_forward_pre_hook(_record(scales, "embedding", use_input=True))]
    hooks += [
        block.register_forward_hook(_record(scales, f"block{i}")) for i, block in enumerate(model.blocks)
    ]
    with torch.no_grad():
        logits = model(batch(steps)[0])
    for hook in hooks:
        hook.remove()
    scales["logits"] = float(logits.abs().mean())
    if not all(math.isfinite(v) for v in scales.values()):
        raise ValueError(f"non-finite activations at d_model {spec.d_model}: lower lr")
    return scales


def _record(scales: dict[str, float], name: str, *, use_input: bool = False):
    """A forward (pre-)hook storing mean |x| of a module's input or output under `name`."""

    def hook(module: torch.nn.Module, args: tuple, output: torch.Tensor | None = None) -> None:
        value = args[0] if use_input else output
        scales[name] = float(value.abs().mean())

    return hook
