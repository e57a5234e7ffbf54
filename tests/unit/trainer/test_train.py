"""train() on tiny CPU models: eval loss approaches the exact entropy floor of a synthetic source
from above, a 4x larger model reaches a lower eval loss on pystdlib, a resumed run repeats the
uninterrupted curve to 1e-6, divergence is a status (not an exception), gradient accumulation
equals the full batch, and the curve and result carry consistent numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.unit.trainer.conftest import tiny_spec
from trainer import CurvePoint, count_params, flops_per_token, train
from trainer.data import source_for


def test_eval_loss_approaches_the_entropy_floor_from_above():
    spec = tiny_spec(tokens=32 * 32 * 150, batch_tokens=32 * 32, eval_tokens=32 * 512)
    result = train(spec)
    floor = result.entropy_floor
    source = source_for(spec)
    eval_set = source.eval_batches(spec.eval_tokens_resolved, 64, spec.seq_len)
    oracle = np.concatenate([source.nll(b.x, b.y).ravel() for b in eval_set])
    noise = oracle.std() / math.sqrt(oracle.size)  # standard error of a loss on this eval set
    assert abs(oracle.mean() - floor) < 4 * noise  # the eval set is representative of the chain
    evals = [p.eval_loss for p in result.curve if p.eval_loss is not None]
    assert evals[0] > floor + 1.0  # starts far above (ln 16 = 2.77 vs ~0.89)
    assert all(e > floor - 4 * noise for e in evals)  # never below the floor beyond noise
    assert result.final_eval_loss - floor < 0.04  # and gets close to it
    assert result.status == "done"


def test_scaling_is_visible_on_pystdlib():
    # Only the final eval loss is compared: one evaluation, at the end (not the default 20, each with
    # a gradient-noise measurement); the same training steps, up to float rounding.
    tokens = 64 * 32 * 60
    common = dict(
        data="pystdlib",
        seq_len=64,
        batch_tokens=64 * 32,
        tokens=tokens,
        lr=3e-3,
        eval_tokens=64 * 128,
        eval_every_tokens=tokens,
    )
    small = tiny_spec(n_layer=1, d_model=32, n_head=2, **common)
    large = tiny_spec(n_layer=1, d_model=64, n_head=2, **common)
    assert count_params(large).non_embedding / count_params(small).non_embedding == pytest.approx(4, rel=0.01)
    small_loss = train(small).final_eval_loss
    large_loss = train(large).final_eval_loss
    assert large_loss < small_loss - 0.05
    assert large_loss < math.log(256) - 1.0  # both learned far beyond a uniform byte model


def _close(a: CurvePoint, b: CurvePoint) -> bool:
    def same(x, y):
        return (x is None and y is None) or (x is not None and y is not None and abs(x - y) <= 1e-6)

    return (a.step, a.tokens) == (b.step, b.tokens) and all(
        same(getattr(a, f), getattr(b, f)) for f in ("train_loss", "eval_loss", "lr", "noise_scale")
    )


class _Interrupt(Exception):
    pass


def test_resume_equals_uninterrupted(tmp_path):
    spec = tiny_spec(schedule="wsd")
    full = train(spec)

    def stop_at_13(point):
        if point.step == 13:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train(spec, on_point=stop_at_13, checkpoint_dir=tmp_path, checkpoint_every_steps=5)
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp file left behind
    resumed = train(spec, checkpoint_dir=tmp_path, resume=True, checkpoint_every_steps=5)
    assert [p.step for p in resumed.curve] == list(range(11, spec.steps + 1))
    by_step = {p.step: p for p in full.curve}
    assert all(_close(p, by_step[p.step]) for p in resumed.curve)
    assert resumed.final_eval_loss == pytest.approx(full.final_eval_loss, abs=1e-6)
    assert resumed.noise_scale == pytest.approx(full.noise_scale, abs=1e-6 * full.noise_scale)
    # resuming a finished run trains nothing and reports the stored result
    again = train(spec, checkpoint_dir=tmp_path, resume=True)
    assert again.curve == () and again.steps == spec.steps
    assert again.final_eval_loss == resumed.final_eval_loss


def test_resume_refuses_a_different_spec(tmp_path):
    train(tiny_spec(tokens=32 * 16 * 4), checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match=r"different spec \(fields lr differ\)"):
        train(tiny_spec(tokens=32 * 16 * 4, lr=0.5), checkpoint_dir=tmp_path, resume=True)


def test_divergence_is_a_status_not_an_exception():
    spec = tiny_spec(lr=30.0, warmup_tokens=0, grad_clip=0.0)
    result = train(spec)
    assert result.status == "diverged"
    assert result.steps < spec.steps
    assert "twice its initial value" in result.message and result.message.endswith("lower lr")
    assert result.curve[-1].step == result.steps  # the curve up to the diverging step


def test_same_seed_same_curve_and_other_seed_differs():
    a, b = train(tiny_spec(tokens=32 * 16 * 5)), train(tiny_spec(tokens=32 * 16 * 5))
    c = train(tiny_spec(tokens=32 * 16 * 5, seed=1))
    assert [p.train_loss for p in a.curve] == [p.train_loss for p in b.curve]
    assert a.curve[-1].train_loss != c.curve[-1].train_loss


def test_gradient_accumulation_equals_the_full_batch():
    full = train(tiny_spec(tokens=32 * 16 * 6))
    accumulated = train(tiny_spec(tokens=32 * 16 * 6, micro_batch_tokens=32 * 4))
    expected = [p.train_loss for p in full.curve]
    assert [p.train_loss for p in accumulated.curve] == pytest.approx(expected, abs=1e-5)


def test_curve_and_result_are_consistent():
    spec = tiny_spec(mlp="swiglu", tied_embeddings=False, eval_every_tokens=32 * 16 * 5, schedule="cosine")
    points = []
    result = train(spec, on_point=points.append)
    assert tuple(points) == result.curve
    assert [p.step for p in points] == list(range(1, spec.steps + 1))
    assert all(p.tokens == p.step * spec.batch_tokens for p in points)
    assert [p.step for p in points if p.eval_loss is not None] == [5, 10, 15, 20, 24]
    assert all((p.noise_scale is None) == (p.eval_loss is None) for p in points[:-1])
    assert result.noise_scale is not None and result.noise_scale > 0
    walls = [p.wall_time for p in points]
    assert walls == sorted(walls)
    assert result.tokens == spec.steps * spec.batch_tokens
    assert result.params == count_params(spec)
    assert result.flops_6nd == flops_per_token(spec).six_n * result.tokens
    assert result.flops_kaplan == flops_per_token(spec).kaplan * result.tokens
    assert result.final_eval_loss < points[0].train_loss - 0.5
    assert result.device == "cpu" and result.tokens_per_second > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_unavailable_device_is_a_value_error():
    with pytest.raises(ValueError, match="device 'cuda' is not available on this machine"):
        train(tiny_spec(device="cuda"))


def test_resume_with_sparse_logging_and_unaligned_checkpoints(tmp_path):
    spec = tiny_spec(log_every_steps=4, eval_every_tokens=32 * 16 * 8)
    full = {p.step: p for p in train(spec).curve}
    assert sorted(full) == [1, 4, 8, 12, 16, 20, 24]

    def stop_at_16(point):
        if point.step == 16:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train(spec, on_point=stop_at_16, checkpoint_dir=tmp_path, checkpoint_every_steps=3)
    resumed = train(spec, checkpoint_dir=tmp_path, resume=True, checkpoint_every_steps=3)
    assert [p.step for p in resumed.curve] == [16, 20, 24]  # the checkpoint at step 15 is the latest
    assert all(_close(p, full[p.step]) for p in resumed.curve)
