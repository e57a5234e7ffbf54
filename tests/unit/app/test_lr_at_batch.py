"""The lr_at_batch part of a prediction (app/lr_at_batch.py): the reference batch an LR law's optimum
was measured at (the predicted B_opt for joint LR x batch sweeps, the one batch of fixed-batch
sweeps, none otherwise), and the LR carried from it: 4x the batch gives 2x the LR under Adam and 4x
under SGD, a batch above B_crit is flagged, and the interval moves with the rule."""

from __future__ import annotations

import pytest

from app.errors import InvalidInput
from app.lr_at_batch import Reference, lr_at_batch, reference_of
from fitting.result import Estimate, SweepOptimum


def _optimum(batch: Estimate | None) -> SweepOptimum:
    lr = Estimate(1e-3, 8e-4, 1.2e-3, 0.95)
    return SweepOptimum(N=1e8, D=2e9, C=1.2e18, n_runs=7, best_loss=3.0, status="found", lr=lr, batch=batch)


class _Restored:
    def __init__(self, *optima: SweepOptimum) -> None:
        self.optima = list(optima)


def _answer(b_crit: float | None = None) -> dict:
    return {
        "study": 4,
        "lr_opt": {"value": 1e-3, "lo": 8e-4, "hi": 1.25e-3},
        "batch_size_opt": {"tokens": {"value": 1e5, "lo": 5e4, "hi": 2e5}, "sequences": None},
        "critical_batch_size": None if b_crit is None else {"value": b_crit, "lo": None, "hi": None},
    }


def test_the_reference_batch_is_where_the_lr_optima_were_located():
    joint = _Restored(_optimum(Estimate(1e5, 8e4, 1.3e5, 0.95)), _optimum(Estimate(2e5, 1e5, 3e5, 0.95)))
    assert reference_of(joint, (8e4, 1e5, 2e5), 1) == Reference("batch_opt")
    fixed = _Restored(_optimum(None), _optimum(None))
    assert reference_of(fixed, (65536.0,), 1) == Reference("fixed", 65536.0)
    varied = reference_of(fixed, (65536.0, 131072.0), 7)
    assert (
        varied.kind is None
        and "trained at different batch sizes (6.554e+04 to 1.311e+05 tokens)" in varied.why
    )
    unknown = reference_of(fixed, (None, 65536.0), 7)
    assert unknown.kind is None and "record no batch size" in unknown.why


@pytest.mark.parametrize(("optimizer", "factor"), [("adam", 2.0), ("sgd", 4.0)])
def test_four_times_b_opt_doubles_the_lr_under_adam_and_quadruples_it_under_sgd(optimizer, factor):
    warnings: list[str] = []
    moved = lr_at_batch(
        batch=4e5, optimizer=optimizer, answer=_answer(b_crit=1e6), reference=Reference("batch_opt"),
        seq_len=1000.0, warnings=warnings,
    )  # fmt: skip
    assert moved["value"] == pytest.approx(factor * 1e-3) and moved["factor"] == pytest.approx(factor)
    assert moved["batch"] == {"tokens": 4e5, "sequences": 400.0}
    assert moved["reference_batch"] == {"tokens": 1e5, "sequences": 100.0}
    assert moved["above_critical"] is False and moved["b_crit"] == 1e6 and warnings == []
    # Widened over B_opt's interval: lo at the LR's lo and B_opt's hi, hi at the LR's hi and B_opt's lo.
    exponent = {"adam": 0.5, "sgd": 1.0}[optimizer]
    assert moved["lo"] == pytest.approx(8e-4 * (4e5 / 2e5) ** exponent)
    assert moved["hi"] == pytest.approx(1.25e-3 * (4e5 / 5e4) ** exponent)


def test_a_batch_above_b_crit_is_flagged_with_the_rules_value():
    warnings: list[str] = []
    moved = lr_at_batch(
        batch=1.6e6, optimizer="adam", answer=_answer(b_crit=1e6), reference=Reference("fixed", 1e5),
        seq_len=None, warnings=warnings,
    )  # fmt: skip
    assert moved["above_critical"] is True and moved["value"] == pytest.approx(4e-3)
    assert moved["lo"] == pytest.approx(3.2e-3) and moved["hi"] == pytest.approx(
        5e-3
    )  # fixed: lr's interval x4
    assert moved["batch"]["sequences"] is None
    assert len(warnings) == 1 and warnings[0].startswith(
        "lr_at_batch: batch 1.6e+06 is above the critical batch size 1e+06: the sqrt rule holds below it"
    )


def test_no_lr_law_or_no_reference_is_null_with_the_reason():
    warnings: list[str] = []
    no_b_opt = {**_answer(), "batch_size_opt": None}
    assert lr_at_batch(
        batch=1e5, optimizer="adam", answer=no_b_opt, reference=Reference("batch_opt"), seq_len=None,
        warnings=warnings,
    ) is None  # fmt: skip
    assert 'POST /v1/studies/4/fits {"law": "batch_opt"}' in warnings[0]
    assert lr_at_batch(
        batch=1e5, optimizer="adam", answer=_answer(), reference=None, seq_len=None, warnings=warnings
    ) is None  # fmt: skip
    assert "needs an lr_opt fit" in warnings[1]
    with pytest.raises(InvalidInput, match="batch \\(1e\\+300 tokens\\): the transferred lr"):
        lr_at_batch(
            batch=1e300, optimizer="sgd", answer=_answer(), reference=Reference("fixed", 1e-300),
            seq_len=None, warnings=warnings,
        )  # fmt: skip
