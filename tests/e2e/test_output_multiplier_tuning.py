"""bench.lr_transfer tunes mup's output multiplier at the base width on real CPU training (tiny
scales, one seed, about 15 s): every alpha of the grid gets its own LR sweep at the base scale, the
chosen alpha is the one whose sweep reached the lowest loss, the grid grows past its largest alpha
only while that one is best, and the experiment then runs every width at the chosen alpha."""

from __future__ import annotations

import pytest

from bench.lr_transfer import ALPHA_MAX, ALPHA_POINTS, ALPHA_STEP, Design, Scale, run_experiment, summary

pytestmark = pytest.mark.slow

_TINY = Design(
    small=(Scale(1, 16, 2, 8192), Scale(1, 24, 2, 12288), Scale(1, 32, 2, 16384)),
    held_out=(Scale(1, 48, 2, 16384),),
    seeds=(0,),
    seq_len=32,
    batch_tokens=256,
    eval_tokens=1024,
    points=3,
    margin=1,
    max_points=5,
    bootstrap=20,
    parametrization="mup",
)


def test_the_output_multiplier_is_tuned_at_the_base_width_and_used_at_every_width():
    transfer = run_experiment(_TINY, workers=2, forms=["tokens"], tune_alpha=True)
    tuning = transfer.tuning
    assert tuning is not None
    alphas = sorted(tuning.sweeps)
    assert alphas[:ALPHA_POINTS] == [ALPHA_STEP**i for i in range(ALPHA_POINTS)]
    best = {alpha: sweep.best_loss for alpha, sweep in tuning.sweeps.items()}
    assert best[tuning.chosen] == min(best.values())
    # the grid went past its first points only while the largest alpha was the best so far
    for extra in alphas[ALPHA_POINTS:]:
        below = [a for a in alphas if a < extra]
        assert min(below, key=best.__getitem__) == max(below)
    assert tuning.chosen < alphas[-1] or alphas[-1] * ALPHA_STEP > ALPHA_MAX
    # every sweep and held-out run used the chosen alpha; the base sweep is the tuning's own
    assert transfer.design.output_multiplier == tuning.chosen
    assert transfer.sweeps[0] is tuning.base_sweep
    assert all(sweep.scale.d_model > 16 for sweep in transfer.sweeps[1:])
    record = summary(transfer)
    assert record["output_multiplier"] == tuning.chosen
    assert set(record["output_multiplier_tuning"]) == {f"{a:g}" for a in alphas}
