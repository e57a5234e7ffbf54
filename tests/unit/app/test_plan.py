"""app/plan: plans stay within their budget, IsoFLOP runs sit on their budget within one batch,
shapes bracket the compute-optimal size, LR and batch grids are centred on the DeepSeek priors and
log-spaced, a too-small budget names the smallest that works; and the sweep's around-axes."""

from __future__ import annotations

import math

import pytest

from app import plan
from app.errors import InvalidInput
from app.specs import batches_around, log_around

BASE = {"seq_len": 64, "data": "synthetic:markov"}
SMALL = plan.Design(isoflop_budgets=3, shapes_per_budget=3, hparam_scales=3, lr_k=1, batch_k=0)


def make(budget: float = 1e15, **kwargs) -> plan.Plan:
    return plan.plan_runs(base=BASE, n_params=1e8, tokens=2e9, budget_flops=budget, **kwargs)


@pytest.mark.parametrize(("budget", "design"), [(1e15, plan.Design()), (3e13, plan.Design()), (1e17, SMALL)])
def test_the_plan_never_exceeds_its_budget_and_adds_up(budget, design):
    result = make(budget, design=design)
    runs = result.runs
    assert (
        len(runs)
        == design.isoflop_budgets * design.shapes_per_budget + design.hparam_scales * design.grid_size
    )
    assert result.total.flops == pytest.approx(sum(r.flops for r in runs))
    assert result.total.flops <= budget
    assert result.total.share > 0.99  # scaled down to the budget, not far below it
    assert result.parts["isoflop"].share + result.parts["hparams"].share == pytest.approx(result.total.share)
    assert result.total.gpu_hours == pytest.approx(result.total.flops / 4e14 / 3600)
    assert result.scale < 1 and result.warnings[0].startswith("scaled down")


def test_isoflop_runs_sit_on_their_budget_within_one_batch_and_bracket_n_opt():
    result = make(1e15)
    budgets = [group.budget_flops for group in result.isoflop]
    assert budgets == pytest.approx([budgets[-1] / 4**3, budgets[-1] / 4**2, budgets[-1] / 4, budgets[-1]])
    for group in result.isoflop:
        assert group.n_params_optimal == pytest.approx(math.sqrt(group.budget_flops / 120))
        sizes = [r.n_params for r in group.runs]
        assert sizes == sorted(sizes) and len(set(sizes)) == 5
        assert sizes[0] < group.n_params_optimal < sizes[-1]
        for run in group.runs:
            per_token = run.flops / run.spec["tokens"]
            assert group.budget_flops - per_token * run.spec["batch_tokens"] < run.flops <= group.budget_flops
            assert run.spec["tokens"] // run.spec["batch_tokens"] >= plan.MIN_STEPS
            d_model, n_layer, n_head = run.spec["d_model"], run.spec["n_layer"], run.spec["n_head"]
            assert d_model // n_layer in (32, 64, 128) and 16 <= d_model // n_head <= 64
    # the first budget: 1.35e12 FLOPs, N_opt 1.06e5, shapes from 1 x 32 to 2 x 128
    first = result.isoflop[0]
    assert first.budget_flops == pytest.approx(1.3514e12, rel=1e-3)
    assert [(r.spec["n_layer"], r.spec["d_model"]) for r in first.runs] == [
        (1, 32),
        (1, 64),
        (2, 64),
        (1, 128),
        (2, 128),
    ]


def test_lr_grid_is_centred_on_the_prior_and_log_spaced_and_batches_are_whole_sequences():
    result = make(1e15)
    assert len(result.hparams) == 3
    for scale in result.hparams:
        flops = scale.flops_per_run
        assert scale.lr_centre == pytest.approx(
            0.3118 * flops**-0.125
        )  # DeepSeek LLM 2024, within range here
        assert scale.lr == pytest.approx([scale.lr_centre * 2.0**i for i in range(-2, 3)])
        assert all(b % 64 == 0 for b in scale.batch_tokens) and len(scale.batch_tokens) == 3
        assert scale.batch_tokens_centre == 64 * round(0.2920 * flops**0.3271 / 64)
        assert {(r.spec["lr"], r.spec["batch_tokens"]) for r in scale.runs} == {
            (x, b) for x in scale.lr for b in scale.batch_tokens
        }
        assert all(r.flops <= flops for r in scale.runs)
    assert result.hparams[0].lr == pytest.approx([0.002374, 0.004748, 0.009496, 0.018992, 0.037983], rel=1e-3)
    assert result.hparams[0].batch_tokens == (1344, 2688, 5440)
    assert len({(r.spec["n_layer"], r.spec["d_model"]) for s in result.hparams for r in s.runs}) == 3
    assert plan.prior_lr(1e6) == 1e-2 and plan.prior_lr(1e40) == 1e-4  # clipped for tiny and huge C


def test_extrapolation_factor_and_its_warnings():
    far = make(1e15)
    largest = max(r.flops_6nd for r in far.runs)
    assert far.target_flops == 1.2e18 and far.extrapolation == pytest.approx(1.2e18 / largest)
    assert far.extrapolation == pytest.approx(1.415e4, rel=1e-2)
    assert any("speculative" in w for w in far.warnings)
    near = plan.plan_runs(base=BASE, n_params=1e8, tokens=2e9, gpu_hours=1000.0)  # 1.44e21 FLOPs: ample
    assert near.scale == 1.0 and near.budget_flops == pytest.approx(1000 * 3600 * 4e14)
    assert 50 < near.extrapolation < 100 and not any("x the largest" in w for w in near.warnings)
    assert near.warnings[0].startswith("the plan uses 0.0193% of the budget")
    middle = make(3e16)
    assert 100 < middle.extrapolation < 1e4
    assert any("expect wide prediction intervals" in w for w in middle.warnings)


def test_a_too_small_budget_names_the_smallest_that_works():
    with pytest.raises(InvalidInput) as caught:
        make(1e10)
    message = str(caught.value)
    assert caught.value.field == "budget_flops"
    assert "the smallest budget that works is 1.4e+13 FLOPs (9.72e-06 GPU-hours at 4e+14 FLOP/s)" in message
    assert make(1.4e13).total.flops <= 1.4e13
    with pytest.raises(InvalidInput, match="smallest budget that works is 1.4e"):
        make(1.3e13)
    with pytest.raises(InvalidInput) as caught:
        plan.plan_runs(base=BASE, n_params=1e8, tokens=2e9, gpu_hours=1e-9)
    assert caught.value.field == "gpu_hours"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"budget_flops": 1e15, "gpu_hours": 1.0}, "budget_flops"),
        ({"budget_flops": -1.0}, "budget_flops"),
        ({"budget_flops": 1e15, "design": plan.Design(isoflop_budgets=2)}, "isoflop_budgets"),
        ({"budget_flops": 1e15, "base": {"seq_len": 0}}, "seq_len"),
    ],
)
def test_bad_inputs_name_their_field(kwargs, field):
    arguments = {"base": BASE, "n_params": 1e8, "tokens": 2e9, **kwargs}
    with pytest.raises(InvalidInput) as caught:
        plan.plan_runs(**arguments)
    assert caught.value.field == field


def test_around_axes():
    assert log_around(3e-3, 2, 2.0) == pytest.approx([7.5e-4, 1.5e-3, 3e-3, 6e-3, 1.2e-2])
    assert log_around(1e-3, 0, 3.0) == [1e-3]
    # 25, 50, 100, 200, 400 tokens in sequences of 64: 1 (at least one), 1, 2, 3, 6, duplicates removed
    assert batches_around(100, 2, 2.0, seq_len=64) == [64, 128, 192, 384]
    assert batches_around(4096, 1, 4.0, seq_len=256) == [1024, 4096, 16384]


def test_grid_refuses_a_list_and_an_around_axis_for_the_same_field():
    from pydantic import ValidationError

    from app.api.schemas import Grid

    with pytest.raises(ValidationError, match="give lr or lr_around, not both"):
        Grid(lr=[1e-3], lr_around={"centre": 3e-3})
    with pytest.raises(ValidationError, match="give batch_tokens or batch_tokens_around, not both"):
        Grid(batch_tokens=[256], batch_tokens_around={"centre": 512})
    grid = Grid(
        shapes=[{"n_layer": 1}, {"n_layer": 2}],
        lr_around={"centre": 3e-3, "k": 2},
        batch_tokens_around={"centre": 512, "k": 1},
    )
    assert grid.size() == 2 * 5 * 3
