"""Shared tiny specs for the trainer tests: models of a few thousand parameters that train in seconds."""

from __future__ import annotations

import pytest

from trainer import RunSpec


def tiny_spec(**overrides) -> RunSpec:
    values = dict(
        n_layer=1,
        d_model=32,
        n_head=2,
        seq_len=32,
        tokens=32 * 16 * 24,
        batch_tokens=32 * 16,
        lr=1e-2,
        data="synthetic:markov-16-3",
        device="cpu",
        eval_tokens=32 * 64,
    )
    values.update(overrides)
    return RunSpec(**values)


@pytest.fixture
def tiny():
    return tiny_spec
