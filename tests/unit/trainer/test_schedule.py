"""lr_at: linear warmup, then cosine to min_lr_ratio * lr, WSD's stable phase and linear cooldown,
and constant; checked at exact steps."""

from __future__ import annotations

import math

import pytest

from trainer import RunSpec
from trainer.schedule import lr_at

BASE = dict(
    n_layer=1,
    d_model=32,
    n_head=2,
    seq_len=16,
    batch_tokens=160,
    tokens=160 * 100,
    lr=1.0,
    warmup_tokens=160 * 10,
)


def test_warmup_is_linear():
    spec = RunSpec(**BASE)
    assert [lr_at(s, spec) for s in range(10)] == pytest.approx([(s + 1) / 10 for s in range(10)])


def test_cosine_ends_at_min_lr_and_passes_midpoint():
    spec = RunSpec(**BASE, schedule="cosine", min_lr_ratio=0.1)
    assert lr_at(10, spec) == pytest.approx(1.0)
    assert lr_at(99, spec) == pytest.approx(0.1)
    mid = 10 + (99 - 10) / 2
    assert lr_at(math.floor(mid), spec) > 0.55 > lr_at(math.ceil(mid), spec)
    values = [lr_at(s, spec) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


def test_wsd_is_flat_then_decays_over_the_last_fraction():
    spec = RunSpec(**BASE, schedule="wsd", decay_fraction=0.2, min_lr_ratio=0.0)
    assert all(lr_at(s, spec) == 1.0 for s in range(10, 80))
    assert lr_at(80, spec) == pytest.approx(1 - 1 / 20)
    assert lr_at(89, spec) == pytest.approx(0.5)
    assert lr_at(99, spec) == pytest.approx(0.0)


def test_constant():
    spec = RunSpec(**BASE, schedule="constant")
    assert {lr_at(s, spec) for s in range(10, 100)} == {1.0}
