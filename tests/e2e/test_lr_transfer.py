"""End to end on real CPU training: LR sweeps on `pystdlib` at four small scales, an lr_opt law fitted
on them, its prediction for a held-out larger scale, an LR sweep there and one run at the predicted
LR (hyperlaw issue 5); bench.lr_transfer's "test" design, seed 0, run once for the module.

Asserted: every sweep brackets its optimum, the prediction has a finite interval that holds the
measured optimum, and training at the predicted LR is within 1% of the best swept loss (met for
seeds 0 and 1, not for seed 2: 1.39%). Not asserted: the issue's "predicted LR within 1.5x of the
measured optimum", met for seed 0 (ratio 0.99) but not for seeds 1 (0.53) and 2 (0.32); see
BENCHMARKS.md, lr_transfer. The seed is pinned: this shows the pipeline end to end on real
training, not that the targets hold in general.
"""

from __future__ import annotations

import math

import pytest

from bench.lr_transfer import DESIGNS, LOSS_TARGET, Transfer, report, run_experiment

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def transfer() -> Transfer:
    result = run_experiment(DESIGNS["test"], workers=2)
    print("\n".join(report(result)))
    return result


def test_sweeps_find_their_optimum_and_the_prediction_interval_holds_it(transfer):
    summary = "\n".join(report(transfer))
    assert all(o.status == "found" for o in transfer.fit.optima), summary
    assert transfer.measured.status == "found", summary
    measured = transfer.measured.lr
    assert measured is not None and measured.lo < measured.value < measured.hi, summary
    predicted = transfer.predicted
    assert math.isfinite(predicted.lo) and math.isfinite(predicted.hi), summary
    assert 0 < predicted.lo <= predicted.value <= predicted.hi, summary
    assert predicted.lo <= measured.value <= predicted.hi, summary


def test_training_at_the_predicted_lr_is_within_one_percent_of_the_best_swept_loss(transfer):
    assert transfer.loss_ratio <= 1 + LOSS_TARGET, "\n".join(report(transfer))
