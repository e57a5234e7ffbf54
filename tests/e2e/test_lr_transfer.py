"""End to end on real CPU training: LR sweeps on `pystdlib` at small scales, an lr_opt law fitted on
them, and its prediction checked against an LR sweep at a held-out larger scale (hyperlaw issue 5).

The experiment is bench.lr_transfer's "test" design (a few minutes on two cores), run once for the
module. Issue 5's targets: training at the predicted LR within 1% of the best swept loss (asserted),
and the predicted LR within 1.5x of the held-out sweep's optimum, which these tiny, short CPU runs do
not reach (see BENCHMARKS.md, lr_transfer): that test is a strict xfail, so meeting it shows up.
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


def test_sweeps_find_their_optimum_and_the_prediction_has_an_interval(transfer):
    summary = "\n".join(report(transfer))
    assert all(o.status == "found" for o in transfer.fit.optima), summary
    assert transfer.measured.status == "found", summary
    measured = transfer.measured.lr
    assert measured is not None and measured.lo < measured.value < measured.hi, summary
    predicted = transfer.predicted
    assert math.isfinite(predicted.lo) and math.isfinite(predicted.hi), summary
    assert 0 < predicted.lo <= predicted.value <= predicted.hi, summary


def test_training_at_the_predicted_lr_is_within_one_percent_of_the_best_swept_loss(transfer):
    assert transfer.loss_ratio <= 1 + LOSS_TARGET, "\n".join(report(transfer))


@pytest.mark.xfail(
    strict=True,
    reason="per-sweep optima of these tiny CPU runs scatter by more than the LR shift across scales "
    "(BENCHMARKS.md, lr_transfer)",
)
def test_predicted_lr_is_within_one_and_a_half_times_the_held_out_optimum(transfer):
    assert max(transfer.lr_ratio, 1 / transfer.lr_ratio) <= LR_TARGET, "\n".join(report(transfer))
