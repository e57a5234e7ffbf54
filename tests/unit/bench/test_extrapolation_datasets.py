"""bench.extrapolation's check outside the calibration: Gadre et al.'s runs on their other
validation sets are ladders of their own, never the C4-val losses the default dataset reads, and
not part of the default pooled line."""

from __future__ import annotations

import numpy as np
import pytest

from bench.extrapolation import (
    DATASETS,
    EXTRA_DATASETS,
    GADRE_DEFAULT_LOSS,
    fit_oracle_widths,
    gadre,
    gadre_evals,
)


def test_gadre_evals_are_the_seven_other_validation_sets_of_each_training_set(shared_data):
    ladders = list(gadre_evals(shared_data))
    assert len(ladders) == 7 * 3
    assert not any(GADRE_DEFAULT_LOSS in ladder.name for ladder in ladders)
    default = {ladder.name: ladder for ladder in gadre(shared_data)}
    for ladder in ladders:
        assert ladder.loss.size >= 30 and np.all(np.isfinite(ladder.loss)) and np.all(ladder.loss > 0)
        c4 = default[ladder.name.split()[0]]
        c4_loss = {(n, d): loss for n, d, loss in zip(c4.N, c4.D, c4.loss, strict=True)}
        # The same runs (models and token counts) as the C4-val ladder, scored on another set.
        pairs = [(c4_loss[(n, d)], loss) for n, d, loss in zip(ladder.N, ladder.D, ladder.loss, strict=True)]
        assert len(pairs) == ladder.loss.size
        assert max(abs(other / base - 1.0) for base, other in pairs) > 1e-3  # not the C4-val losses again


def test_the_extra_check_is_not_in_the_default_pooled_datasets():
    assert set(EXTRA_DATASETS) <= set(DATASETS)
    assert "gadre" in DATASETS and "gadre_evals" in EXTRA_DATASETS


def test_a_fits_oracle_width_covers_ninety_percent_of_its_runs_and_no_fewer():
    errors = [0.01 * k for k in range(1, 11)]  # 1% .. 10%
    widths = fit_oracle_widths(errors)
    assert len(widths) == 10 and len(set(widths)) == 1
    covered = sum(error <= widths[0] / 2 for error in errors)
    assert covered == 9  # 90%: the one 10% error lies outside
    assert widths[0] == pytest.approx(2 * 0.091)
    assert fit_oracle_widths([]) == []
