"""app/plan under μP: every LR × batch grid trains one shape at the base width (the study's, or the
one nearest the smallest grid's compute-optimal size), the grids' compute goes to token counts
4x apart instead of model sizes, every run carries the base width, the IsoFLOP part and the costs
stay those of the sp plan, and the notes say why; an sp plan has no notes."""

from __future__ import annotations

import pytest

from app import plan
from app.errors import InvalidInput

BASE = {"seq_len": 64, "data": "synthetic:markov"}
MUP = {**BASE, "parametrization": "mup"}


def make(base: dict, budget: float = 1e15) -> plan.Plan:
    return plan.plan_runs(base=base, n_params=1e8, tokens=2e9, budget_flops=budget)


def _shape(run: plan.PlannedRun) -> tuple[int, int, int]:
    return run.spec["n_layer"], run.spec["d_model"], run.spec["n_head"]


def test_mup_grids_train_one_shape_at_the_base_width_over_token_counts():
    sp, mup = make(BASE), make(MUP)
    assert len({_shape(r) for g in sp.hparams for r in g.runs}) == 3  # sp: a shape per scale
    shapes = {_shape(r) for g in mup.hparams for r in g.runs}
    assert len(shapes) == 1
    (_, width, _) = shapes.pop()
    # The width of the shape sp's smallest grid trains: the smallest grid is laid out as before.
    assert width == sp.hparams[0].runs[0].spec["d_model"]
    assert {r.spec["base_d_model"] for r in mup.runs} == {width}
    assert {r.spec["parametrization"] for r in mup.runs} == {"mup"}
    tokens = [g.runs[0].spec["tokens"] for g in mup.hparams]
    assert tokens[0] == sp.hparams[0].runs[0].spec["tokens"]
    for before, after in zip(tokens, tokens[1:], strict=False):
        assert after / before == pytest.approx(4.0, rel=0.01)  # each grid 4x the compute, all of it tokens
    assert tokens[-1] > sp.hparams[-1].runs[0].spec["tokens"]
    for sp_group, mup_group in zip(sp.hparams, mup.hparams, strict=True):
        assert mup_group.lr == sp_group.lr and mup_group.flops_per_run == sp_group.flops_per_run
        assert {r.spec["tokens"] for r in mup_group.runs} == {mup_group.runs[0].spec["tokens"]}
    # The loss law's IsoFLOP design and the costs are the sp plan's.
    assert [[_shape(r) for r in g.runs] for g in mup.isoflop] == [
        [_shape(r) for r in g.runs] for g in sp.isoflop
    ]
    assert mup.total.flops <= 1e15 and mup.total.share == pytest.approx(sp.total.share, rel=0.02)
    assert mup.parametrization == "mup" and len(mup.notes) == 3
    assert f"base width d_model={width}" in mup.notes[0] and "token counts" in mup.notes[0]
    assert "output_multiplier (alpha_output) is 1, the default, not tuned" in mup.notes[2]
    assert (sp.parametrization, sp.notes) == ("sp", ())


def test_the_studys_base_width_is_used_even_off_the_ladder():
    result = make({**MUP, "base_d_model": 48})
    assert {_shape(r) for g in result.hparams for r in g.runs} == {(1, 48, 3)}
    assert {r.spec["base_d_model"] for r in result.runs} == {48}
    assert make({**MUP, "base_d_model": 64}).hparams[0].runs[0].spec["d_model"] == 64


def test_a_base_width_under_sp_is_refused():
    with pytest.raises(InvalidInput, match="base_d_model .* applies to parametrization 'mup' only"):
        make({**BASE, "base_d_model": 64})


def test_a_tuned_output_multiplier_is_kept_for_every_run_and_said():
    result = make({**MUP, "output_multiplier": 8.0})
    assert {r.spec["output_multiplier"] for r in result.runs} == {8.0}
    assert "output_multiplier 8 (alpha_output, at the base width)" in result.notes[2]
