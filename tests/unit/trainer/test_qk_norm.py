"""RunSpec.qk_norm: queries and keys are normalised per head, so the attention pattern no longer
depends on their scale; off by default, where a query matrix's scale does change it."""

from __future__ import annotations

import pytest
import torch

from trainer import RunSpec, SpecError
from trainer.model import GPT, GPTConfig


def _spec(**changes) -> RunSpec:
    values = dict(n_layer=1, d_model=32, n_head=2, seq_len=16, tokens=16 * 8, batch_tokens=16 * 4, lr=1e-3)
    return RunSpec(**(values | changes), device="cpu")


def _logits_with_query_scaled(spec: RunSpec, factor: float) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = GPT(GPTConfig.from_spec(spec)).eval()
    idx = torch.randint(0, spec.vocab, (2, spec.seq_len))
    with torch.no_grad():
        before = model(idx)
        qkv = model.blocks[0].attn.qkv.weight
        qkv[: spec.d_model].mul_(factor)  # the query rows of the fused qkv matrix
        after = model(idx)
    return before, after


def test_qk_norm_makes_attention_independent_of_the_query_scale():
    before, after = _logits_with_query_scaled(_spec(qk_norm=True), 50.0)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)


def test_without_qk_norm_the_query_scale_changes_the_logits():
    before, after = _logits_with_query_scaled(_spec(), 50.0)
    assert (after - before).abs().max() > 1e-3


def test_qk_norm_adds_a_gain_per_head_dimension_for_queries_and_keys():
    plain = GPT(GPTConfig.from_spec(_spec()))
    normed = GPT(GPTConfig.from_spec(_spec(qk_norm=True)))
    assert sum(p.numel() for p in normed.parameters()) - sum(p.numel() for p in plain.parameters()) == 2 * 16


def test_qk_norm_must_be_a_bool():
    with pytest.raises(SpecError, match="qk_norm"):
        _spec(qk_norm="yes")
