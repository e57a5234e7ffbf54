"""μP in the trainer: sp reproduces the curve it trained before μP existed (pinned numbers), mup at
its base width is sp, mup scales the hidden matrices' LR and init and the logits by base/width and
leaves the rest alone, and the coordinate check finds mup's activations flat in width and sp's
growing. A checkpoint written before the parametrization fields existed still resumes."""

from __future__ import annotations

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from app.cli import cli
from tests.unit.trainer.conftest import tiny_spec
from trainer import RunSpec, SpecError, train
from trainer.coord_check import coord_check, slopes
from trainer.loop import build_optimizer
from trainer.model import GPT, GPTConfig

# tiny_spec(seed=3, tied_embeddings=False) trained by the code before μP was added (CPU, torch 2.13):
# train loss at steps 1, 5, 10 and 24 (the last), and the final eval loss.
_PINNED_TRAIN = {1: 2.785674571990967, 5: 1.9848090410232544, 10: 1.410109519958496, 24: 1.1334807872772217}
_PINNED_EVAL = 1.0823638439178467


@pytest.fixture(autouse=True)
def _one_thread():
    # One intra-op thread: these models are tiny and the test machines' cores are shared.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_sp_reproduces_the_curve_pinned_before_mup():
    result = train(tiny_spec(seed=3, tied_embeddings=False))
    losses = {p.step: p.train_loss for p in result.curve}
    for step, pinned in _PINNED_TRAIN.items():
        assert losses[step] == pytest.approx(pinned, abs=1e-6), step
    assert result.final_eval_loss == pytest.approx(_PINNED_EVAL, abs=1e-6)


def test_mup_at_its_base_width_is_sp():
    sp = train(tiny_spec(seed=3, tied_embeddings=False))
    mup = train(tiny_spec(seed=3, tied_embeddings=False, parametrization="mup", base_d_model=32))
    assert [p.train_loss for p in mup.curve] == pytest.approx([p.train_loss for p in sp.curve], abs=1e-6)
    assert mup.final_eval_loss == pytest.approx(sp.final_eval_loss, abs=1e-6)
    # and at another width it trains differently
    narrow = train(tiny_spec(seed=3, tied_embeddings=False, parametrization="mup", base_d_model=16))
    assert abs(narrow.final_eval_loss - sp.final_eval_loss) > 0.01


def _model(**overrides) -> tuple[GPT, RunSpec]:
    spec = tiny_spec(n_layer=2, d_model=128, n_head=2, tied_embeddings=False, **overrides)
    torch.manual_seed(0)
    return GPT(GPTConfig.from_spec(spec)), spec


def test_mup_scales_hidden_lr_and_init_and_the_logits_by_base_over_width():
    sp, spec = _model()
    mup, mup_spec = _model(parametrization="mup", base_d_model=32)  # width 4x the base
    assert mup.config.width_ratio == 0.25
    # hidden matrices: the same draws times sqrt(base/width) = 1/2; everything else unchanged
    for (name, p_sp), p_mup in zip(sp.named_parameters(), mup.parameters(), strict=True):
        hidden = any(part in name for part in ("qkv", "proj", "mlp.up", "mlp.down"))
        assert torch.equal(p_mup, p_sp * 0.5 if hidden else p_sp), name
    # attention: sp's 1/sqrt(d_head) at the base d_head (16), 1/d_head beyond: sqrt(16)/64
    assert sp.config.attention_scale is None
    assert mup.config.attention_scale == pytest.approx(4 / 64)
    # AdamW groups: hidden matrices at lr/4, embeddings, readout and norms at lr
    lrs = {}
    for group in build_optimizer(mup, mup_spec, torch.device("cpu")).param_groups:
        for p in group["params"]:
            lrs[id(p)] = group["lr"]
    hidden = {id(p) for p in mup.hidden_matrices()}
    assert len(hidden) == 4 * 2
    decays = {
        id(p): g["weight_decay"]
        for g in build_optimizer(mup, mup_spec, torch.device("cpu")).param_groups
        for p in g["params"]
    }
    for name, p in mup.named_parameters():
        assert lrs[id(p)] == pytest.approx(mup_spec.lr * (0.25 if id(p) in hidden else 1.0)), name
        # per-step decay lr·wd as at the base width (the mup package's MuAdamW default)
        expected = 0.0 if p.dim() < 2 else mup_spec.weight_decay * (4 if id(p) in hidden else 1)
        assert decays[id(p)] == pytest.approx(expected), name
    assert {g["lr"] for g in build_optimizer(sp, spec, torch.device("cpu")).param_groups} == {spec.lr}
    # logits: the readout's output times base/width
    idx = torch.randint(0, spec.vocab, (2, 8))
    with torch.no_grad():
        raw = mup.lm_head(mup.ln_f(_residual(mup, idx)))
        assert torch.allclose(mup(idx), raw * 0.25)


@pytest.mark.parametrize("parametrization, base, width_factor", [("sp", None, 1.0), ("mup", 32, 0.25)])
def test_output_multiplier_scales_the_logits_on_top_of_the_readout_rule(parametrization, base, width_factor):
    plain, _ = _model(parametrization=parametrization, base_d_model=base)
    tuned, spec = _model(parametrization=parametrization, base_d_model=base, output_multiplier=4.0)
    # the same weights (alpha_output is a multiplier, not an init), logits times alpha on top of base/width
    for p_plain, p_tuned in zip(plain.parameters(), tuned.parameters(), strict=True):
        assert torch.equal(p_plain, p_tuned)
    assert tuned.config.logit_scale == pytest.approx(4.0 * width_factor)
    idx = torch.randint(0, spec.vocab, (2, 8))
    with torch.no_grad():
        raw = tuned.lm_head(tuned.ln_f(_residual(tuned, idx)))
        assert torch.allclose(tuned(idx), raw * 4.0 * width_factor)
        assert torch.allclose(tuned(idx), plain(idx) * 4.0)


def test_output_multiplier_changes_training_and_one_is_the_default():
    default = train(tiny_spec(seed=3, tied_embeddings=False))
    explicit = train(tiny_spec(seed=3, tied_embeddings=False, output_multiplier=1.0))
    tuned = train(tiny_spec(seed=3, tied_embeddings=False, output_multiplier=4.0))
    assert explicit.final_eval_loss == default.final_eval_loss
    assert abs(tuned.final_eval_loss - default.final_eval_loss) > 0.01


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), True, "2"])
def test_output_multiplier_must_be_a_positive_finite_number(bad):
    with pytest.raises(SpecError, match="output_multiplier") as caught:
        tiny_spec(output_multiplier=bad)
    assert caught.value.field == "output_multiplier"


def _residual(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    x = model.wte(idx) + model.wpe(torch.arange(idx.shape[1]))
    for block in model.blocks:
        x = block(x)
    return x


# The coordinate check (Tensor Programs V): 10 Adam steps at constant LR at widths 32-256 with
# two heads (so d_head grows with width too), byte-level pystdlib. After Adam's updates a
# coordinate that sums `width` correlated terms moves by ~lr·width: sp's logits and hidden
# activations grow with exponent ~1 in width (measured 0.66-0.78 for the logits, 1.45-1.77 for the
# blocks at seeds 0-3), mup's stay flat (|exponent| <= 0.05 for the logits, <= 0.14 for the blocks).
# The bounds sit between the two at a quarter (mup) and a half (sp) of the unit growth.
_COORD_SPEC = dict(
    n_layer=2,
    d_model=32,
    n_head=2,
    seq_len=32,
    tokens=512 * 10,
    batch_tokens=512,
    lr=3e-3,
    data="pystdlib",
    device="cpu",
    tied_embeddings=False,
)
_WIDTHS = (32, 64, 128, 256)


def test_coordinate_check_mup_stays_flat_in_width():
    checks = coord_check(RunSpec(**_COORD_SPEC, parametrization="mup"), _WIDTHS, steps=10)
    assert [c.d_model for c in checks] == list(_WIDTHS)
    slope = slopes(checks)
    assert set(slope) == {"embedding", "block0", "block1", "logits"}
    assert all(abs(s) < 0.25 for s in slope.values()), slope
    assert all(math.isfinite(v) and v > 0 for c in checks for v in c.scales.values())


def test_coordinate_check_detects_sp_growth():
    slope = slopes(coord_check(RunSpec(**_COORD_SPEC), _WIDTHS, steps=10))
    assert slope["logits"] > 0.5, slope
    assert slope["block0"] > 1.0 and slope["block1"] > 1.0, slope
    assert abs(slope["embedding"]) < 0.25, slope  # embeddings are unscaled in both


class _Interrupt(Exception):
    pass


def test_a_checkpoint_from_before_the_parametrization_fields_resumes(tmp_path):
    spec = tiny_spec()

    def stop_at_6(point):
        if point.step == 6:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train(spec, on_point=stop_at_6, checkpoint_dir=tmp_path, checkpoint_every_steps=5)
    path = tmp_path / "checkpoint.pt"
    payload = torch.load(path, weights_only=True)
    del payload["spec"]["parametrization"], payload["spec"]["base_d_model"]
    torch.save(payload, path)
    resumed = train(spec, checkpoint_dir=tmp_path, resume=True)
    assert resumed.status == "done" and resumed.curve[0].step == 6
    with pytest.raises(ValueError, match="parametrization"):
        train(tiny_spec(parametrization="mup"), checkpoint_dir=tmp_path, resume=True)


def test_coord_check_command_prints_scales_and_slopes_and_refuses_one_width():
    common = ["coord-check", "--steps", "2", "--device", "cpu", "--data", "synthetic:markov-16-3"]
    result = CliRunner().invoke(cli, [*common, "--widths", "32,64", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"sp", "mup"}
    assert set(out["mup"]["widths"]) == {"32", "64"}
    assert set(out["sp"]["slopes"]) == {"embedding", "block0", "block1", "logits"}
    # at the base width (32, the smallest) mup is sp
    assert out["mup"]["widths"]["32"] == pytest.approx(out["sp"]["widths"]["32"], rel=1e-6)
    refused = CliRunner().invoke(cli, [*common, "--widths", "32"])
    assert refused.exit_code == 2 and "at least two distinct widths" in refused.output
