"""Parameter and FLOP accounting from a RunSpec alone (no model is built), and model sizing.

Conventions, each stated once:
  * total: every trainable parameter of trainer.model.GPT, a tied embedding counted once.
  * non_embedding: total minus the token embedding, the position embedding and (when untied) the
    output head. This is Kaplan et al. 2020's N (§2.1, "we exclude embedding parameters"),
    except that it keeps the layer-norm gains that Kaplan drops as sub-leading (they are 2 * d_model
    per layer plus d_model, < 0.5% of N for d_model >= 64).
  * FLOPs are per training token (forward + backward, backward = 2 x forward, Kaplan 2020 §2.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trainer.spec import RunSpec

# SwiGLU hidden width: 2/3 of the GELU MLP's 4 * d_model so that the three matrices hold the same
# parameters and FLOPs as GELU's two (Shazeer 2020, "GLU Variants Improve Transformer", §2),
# rounded up to a multiple of 8 for matmul-friendly shapes.
_SWIGLU_MULTIPLE = 8
# GELU MLP width d_ff = 4 * d_model, the GPT-2/Kaplan 2020 convention (Table 1 uses d_ff = 4 d_model).
_MLP_RATIO = 4


def mlp_hidden(d_model: int, mlp: str) -> int:
    """Hidden width of the MLP for this d_model and MLP kind."""
    if mlp == "swiglu":
        hidden = math.ceil(2 * _MLP_RATIO * d_model / 3)
        return _SWIGLU_MULTIPLE * math.ceil(hidden / _SWIGLU_MULTIPLE)
    return _MLP_RATIO * d_model


@dataclass(frozen=True)
class ParamCount:
    """Parameters of the model a spec builds. See the module docstring for the conventions."""

    total: int
    non_embedding: int
    embedding: int


@dataclass(frozen=True)
class FlopCount:
    """Training FLOPs per token.

    six_n: 6 * non_embedding parameters, Kaplan 2020's C ~= 6N (§2.1).
    kaplan: 3 * C_forward with C_forward = 2N + 2 n_layer n_ctx d_attn, the exact count of
        Kaplan 2020 Table 1 (N over the matrices only; causal attention costs QK^T and AV over
        an average context of n_ctx / 2, hence 2 n_ctx d_attn per layer).
    with_head: kaplan plus the output logits 3 * 2 d_model n_vocab (Table 1 "De-embed"); this
        is the number to use for model FLOPs utilisation.
    """

    six_n: int
    kaplan: int
    with_head: int


def _matrix_params_per_layer(spec: RunSpec) -> int:
    d, h = spec.d_model, mlp_hidden(spec.d_model, spec.mlp)
    attention = 4 * d * d  # Wq, Wk, Wv, Wo with d_attn = d_model (Table 1: 4 d_model d_attn)
    mlp = (3 if spec.mlp == "swiglu" else 2) * d * h
    return attention + mlp


def count_params(spec: RunSpec) -> ParamCount:
    """Exact parameter counts of trainer.model.GPT for this spec, without building it."""
    d, v = spec.d_model, spec.vocab
    # Per layer: the matrices (no biases) plus two LayerNorm gains (and, with qk_norm, the queries'
    # and keys' gains of d_head each); then the final LayerNorm.
    qk_gains = 2 * (d // spec.n_head) if spec.qk_norm else 0
    blocks = spec.n_layer * (_matrix_params_per_layer(spec) + 2 * d + qk_gains) + d
    embedding = v * d + spec.seq_len * d + (0 if spec.tied_embeddings else v * d)
    return ParamCount(total=blocks + embedding, non_embedding=blocks, embedding=embedding)


def flops_per_token(spec: RunSpec) -> FlopCount:
    """Training FLOPs per token of the model a spec builds (see FlopCount for each convention)."""
    n_matrix = spec.n_layer * _matrix_params_per_layer(spec)
    forward = 2 * n_matrix + 2 * spec.n_layer * spec.seq_len * spec.d_model
    kaplan = 3 * forward
    head = 3 * 2 * spec.d_model * spec.vocab
    return FlopCount(six_n=6 * count_params(spec).non_embedding, kaplan=kaplan, with_head=kaplan + head)


@dataclass(frozen=True)
class Shape:
    """A model shape; `RunSpec(**dataclasses.asdict(shape), ...)` builds a spec from it."""

    n_layer: int
    d_model: int
    n_head: int


# Fixed aspect ratio d_model = 64 * n_layer and head size 64: nanochat's depth-parameterised family
# (karpathy/nanochat scripts/base_train.py, model_dim = depth * 64). Kaplan 2020 (§3.1, Fig. 5)
# find loss depends only weakly on the aspect ratio over a wide range, so one fixed rule lets a
# size sweep be a single list of numbers.
ASPECT_RATIO = 64
HEAD_DIM = 64


def shape_for_params(target: float, *, mlp: str = "gelu") -> Shape:
    """The n_layer (and d_model = 64 n_layer, n_head = n_layer) whose non-embedding count is nearest
    to `target` in log space. Non-embedding, because that is the N of the scaling laws."""
    if not (isinstance(target, int | float) and math.isfinite(target) and target > 0):
        raise ValueError(f"target ({target!r}) must be a positive number of non-embedding parameters")
    best: Shape | None = None
    best_gap = math.inf
    for n_layer in range(1, 257):
        d = ASPECT_RATIO * n_layer
        h = mlp_hidden(d, mlp)
        n = n_layer * (4 * d * d + (3 if mlp == "swiglu" else 2) * d * h + 2 * d) + d
        gap = abs(math.log(n / target))
        if gap < best_gap:
            best, best_gap = Shape(n_layer=n_layer, d_model=d, n_head=d // HEAD_DIM), gap
        elif n > target:
            break
    assert best is not None
    return best
