"""End to end on real CPU training: LR sweeps on `pystdlib` at four small scales, an lr_opt law fitted
on them, its prediction for a held-out larger scale, an LR sweep there and training at the predicted
LR (hyperlaw issue 5); bench.lr_transfer's "test" design (seeds 0 and 1), run once for the module.

Asserted: the issue's two targets, the predicted LR within 1.5x of the optimum measured by sweeping
the held-out scale and the loss at the predicted LR within 1% of the best swept loss, plus every
sweep bracketing its optimum and the prediction's interval holding the measured optimum. The same
design at seeds (2, 3) and (4, 5) met both targets as well (BENCHMARKS.md, lr_transfer); the seed
pair is pinned so the test is repeatable, not because other pairs fail.
"""

from __future__ import annotations

import math

import pytest

from bench.lr_transfer import DESIGNS, LOSS_TARGET, LR_TARGET, Transfer, report, run_experiment

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def transfer() -> Transfer:
    result = run_experiment(DESIGNS["test"], workers=2)
    print("\n".join(report(result)))
    return result


def test_sweeps_find_their_optimum_and_the_prediction_interval_holds_it(transfer):
    summary = "\n".join(report(transfer))
    assert all(o.status == "found" for o in transfer.fit.optima), summary
    (held,) = transfer.held
    assert held.measured.status == "found", summary
    measured = held.measured.lr
    assert measured is not None and measured.lo < measured.value < measured.hi, summary
    predicted = held.predicted
    assert math.isfinite(predicted.lo) and math.isfinite(predicted.hi), summary
    assert 0 < predicted.lo <= predicted.value <= predicted.hi, summary
    assert predicted.lo <= measured.value <= predicted.hi, summary


def test_predicted_lr_is_within_one_and_a_half_times_the_measured_optimum(transfer):
    assert 1 / LR_TARGET <= transfer.held[0].lr_ratio <= LR_TARGET, "\n".join(report(transfer))


def test_training_at_the_predicted_lr_is_within_one_percent_of_the_best_swept_loss(transfer):
    assert transfer.held[0].loss_ratio <= 1 + LOSS_TARGET, "\n".join(report(transfer))
