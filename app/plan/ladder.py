"""The shape ladder: every model shape a plan may use, with its trainer.accounting counts, and the
shapes nearest a wanted size.

n_layer = 1..MAX_LAYERS, d_model = a·n_layer for an aspect ratio a in ASPECT_RATIOS, head dim 64
when d_model is a multiple of 64 and at least 256, else 32 from d_model 64 up, else 16. For a wanted
N the ladder shape whose non-embedding parameter count is nearest in log space wins, ties going to
aspect ratio 64; `shapes_around` takes the nearest unused ones to N·SHAPE_SPREAD^j, j = 0, ±1, ±2...,
so they bracket N. `at_width` gives a shape of one given width (a μP study's base width).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.specs import SHAPE_FIELDS, seq_len_of
from trainer.accounting import count_params, flops_per_token
from trainer.spec import RunSpec

# Loss depends only weakly on the aspect ratio d_model/n_layer over a wide range (Kaplan et al.
# 2020, §3.1, Fig. 5): three ratios around nanochat's 64 give the ladder more sizes, not worse models.
ASPECT_RATIOS = (32, 64, 128)
MAX_LAYERS = 48
# Ratio between neighbouring shapes' N on one IsoFLOP budget: 5 shapes span 16x around N_opt.
SHAPE_SPREAD = 2.0
# The spec fields a shape's counts depend on besides the shape itself.
_COUNTED = ("seq_len", "mlp", "vocab_size", "data", "tied_embeddings", "qk_norm")


@dataclass(frozen=True)
class LadderShape:
    """One ladder shape with its counts for a base spec (seq_len, vocabulary, MLP)."""

    n_layer: int
    d_model: int
    n_head: int
    aspect: int
    n_params: float  # non-embedding
    flops_per_token: float  # trainer.accounting's `kaplan` count

    def fields(self) -> dict[str, int]:
        """The spec fields of this shape."""
        return {name: getattr(self, name) for name in SHAPE_FIELDS}


def head_dim(d_model: int) -> int:
    """64 for d_model a multiple of 64 from 256 up, 32 from 64 up, else 16 (small GPTs use 16-64)."""
    if d_model >= 256 and d_model % 64 == 0:
        return 64
    return 32 if d_model >= 64 else 16


def _shape(base: Mapping[str, Any], n_layer: int, d_model: int, n_head: int, aspect: int) -> LadderShape:
    """One shape with its counts for the base spec's seq_len, vocabulary and MLP."""
    seq_len = seq_len_of(base)
    kept = {k: base[k] for k in _COUNTED if k in base}
    spec = RunSpec(
        **kept, n_layer=n_layer, d_model=d_model, n_head=n_head, tokens=seq_len, batch_tokens=seq_len, lr=1e-3
    )
    counts = float(count_params(spec).non_embedding), float(flops_per_token(spec).kaplan)
    return LadderShape(n_layer, d_model, n_head, aspect, *counts)


def ladder(base: Mapping[str, Any]) -> list[LadderShape]:
    """Every ladder shape with its counts for the base spec's seq_len, vocabulary and MLP, smallest first."""
    shapes = [
        _shape(base, n_layer, aspect * n_layer, aspect * n_layer // head_dim(aspect * n_layer), aspect)
        for n_layer in range(1, MAX_LAYERS + 1)
        for aspect in ASPECT_RATIOS
    ]
    return sorted(shapes, key=lambda s: s.n_params)


def at_width(
    shapes: list[LadderShape], base: Mapping[str, Any], d_model: int, n_params: float
) -> LadderShape:
    """A shape of width `d_model` (a μP study's base width): the ladder's nearest to n_params at that
    width, else one layer per 64 of width (at least one) with heads of the ladder's head dim, or of
    16, 8, 4, 2 or 1 channels, whichever first divides the width."""
    same = [s for s in shapes if s.d_model == d_model]
    if same:
        return nearest(same, n_params, set())
    n_layer = max(1, round(d_model / 64))
    dim = next(h for h in (head_dim(d_model), 16, 8, 4, 2, 1) if d_model % h == 0)
    return _shape(base, n_layer, d_model, d_model // dim, max(1, d_model // n_layer))


def nearest(shapes: list[LadderShape], n_params: float, used: set[LadderShape]) -> LadderShape:
    """The unused shape whose N is nearest to n_params in log space, ties going to aspect ratio 64."""
    free = [s for s in shapes if s not in used]
    return min(free, key=lambda s: (abs(math.log(s.n_params / n_params)), abs(math.log2(s.aspect / 64))))


def shapes_around(shapes: list[LadderShape], n_params: float, count: int) -> list[LadderShape]:
    """`count` distinct ladder shapes nearest to n_params·SHAPE_SPREAD^j, j = 0, -1, +1, -2, ..., by size."""
    offsets = sorted(range(-(count // 2), count - count // 2), key=lambda j: (abs(j), j))
    used: set[LadderShape] = set()
    for j in offsets:
        used.add(nearest(shapes, n_params * SHAPE_SPREAD**j, used))
    return sorted(used, key=lambda s: s.n_params)
