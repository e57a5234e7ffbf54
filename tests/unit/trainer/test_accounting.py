"""count_params and flops_per_token, computed from the spec alone, equal an instantiated model:
parameters by summing its tensors, FLOPs by torch's FlopCounterMode over a forward and backward
pass. shape_for_params follows its aspect-ratio rule and lands near the target."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from trainer import RunSpec, count_params, flops_per_token, shape_for_params
from trainer.model import GPT, GPTConfig

SHAPES = [
    dict(n_layer=2, d_model=48, n_head=3, mlp="gelu", tied_embeddings=True),
    dict(n_layer=3, d_model=64, n_head=4, mlp="swiglu", tied_embeddings=False),
    dict(n_layer=1, d_model=40, n_head=2, mlp="swiglu", tied_embeddings=True, data="synthetic:markov-100-5"),
    dict(n_layer=2, d_model=48, n_head=4, mlp="gelu", tied_embeddings=False, qk_norm=True),
]


def spec_for(shape: dict) -> RunSpec:
    return RunSpec(**shape, seq_len=24, tokens=24 * 8, batch_tokens=24 * 4, lr=1e-3, device="cpu")


@pytest.mark.parametrize("shape", SHAPES)
def test_param_counts_equal_the_model(shape):
    spec = spec_for(shape)
    model = GPT(GPTConfig.from_spec(spec))
    counts = count_params(spec)
    assert counts.total == sum(p.numel() for p in model.parameters())
    embedding = model.wte.weight.numel() + model.wpe.weight.numel()
    if not spec.tied_embeddings:
        embedding += model.lm_head.weight.numel()
    assert counts.embedding == embedding
    assert counts.non_embedding == counts.total - embedding
    # the non-embedding parameters are exactly those of the blocks and the final norm
    assert counts.non_embedding == sum(p.numel() for p in model.blocks.parameters()) + spec.d_model


@pytest.mark.parametrize("shape", SHAPES)
def test_flops_equal_the_model(shape):
    spec = spec_for(shape)
    model = GPT(GPTConfig.from_spec(spec))
    batch = 3
    idx = torch.randint(0, spec.vocab, (batch, spec.seq_len))
    # the math backend runs attention as bmm, which FlopCounterMode counts (the fused CPU kernel is not)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(idx, idx).backward()
    tokens = batch * spec.seq_len
    measured = counter.get_total_flops() / tokens
    flops = flops_per_token(spec)
    # FlopCounterMode counts attention as dense (4 n_ctx d_attn per layer and token forward);
    # Kaplan's Table 1 counts the causal half (2 n_ctx d_attn), so add back the masked half x3.
    masked_half = 3 * 2 * spec.n_layer * spec.seq_len * spec.d_model
    assert measured == flops.with_head + masked_half
    # the matrices of the blocks, counted from the instantiated model, give Kaplan's N
    n_matrix = sum(p.numel() for p in model.blocks.parameters() if p.dim() == 2)
    assert flops.kaplan == 3 * (2 * n_matrix + 2 * spec.n_layer * spec.seq_len * spec.d_model)
    assert flops.six_n == 6 * count_params(spec).non_embedding


def test_kaplan_table_1_formula_for_gelu():
    # N = 2 d_model n_layer (2 d_attn + d_ff) with d_attn = d_model, d_ff = 4 d_model: 12 n_layer d^2
    spec = RunSpec(n_layer=4, d_model=128, n_head=4, seq_len=256, tokens=65536, batch_tokens=4096, lr=1e-3)
    n = 12 * 4 * 128**2
    assert flops_per_token(spec).kaplan == 6 * n + 6 * 4 * 256 * 128


@pytest.mark.parametrize("target", [1e5, 2e6, 3e7, 1e9])
def test_shape_for_params_follows_the_aspect_ratio(target):
    shape = shape_for_params(target)
    assert shape.d_model == 64 * shape.n_layer
    assert shape.n_head == shape.n_layer
    spec = RunSpec(**shape.__dict__, tokens=4096, batch_tokens=4096, seq_len=256, lr=1e-3)
    n = count_params(spec).non_embedding
    # the nearest in log space among a ladder whose neighbours differ by (L+1)^3/L^3 <= 8
    neighbours = []
    for n_layer in (shape.n_layer - 1, shape.n_layer + 1):
        if n_layer >= 1:
            s = RunSpec(
                n_layer=n_layer,
                d_model=64 * n_layer,
                n_head=n_layer,
                tokens=4096,
                batch_tokens=4096,
                seq_len=256,
                lr=1e-3,
            )
            neighbours.append(count_params(s).non_embedding)
    assert all(abs(math.log(n / target)) <= abs(math.log(m / target)) for m in neighbours)


def test_shape_for_params_rejects_nonsense():
    with pytest.raises(ValueError, match="positive number"):
        shape_for_params(-5)
