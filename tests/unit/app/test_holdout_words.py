"""The extrapolation check is described per direction wherever a fit is shown (CLI, reports)."""

from __future__ import annotations

import numpy as np

import fitting
from app import holdouts
from fitting.synthetic import chinchilla_sample


def _fit():
    n, d, loss = chinchilla_sample(np.random.default_rng(0))
    return fitting.fit("chinchilla", N=n, D=d, loss=loss, bootstrap=0)


def test_each_direction_gets_its_line_with_its_numbers():
    fit = _fit()
    lines = holdouts.describe(fit.holdout.to_dict())
    assert len(lines) == 2
    for line, (axis, direction) in zip(lines, fit.holdout.directions.items(), strict=True):
        assert f"{axis} >= {direction.threshold:.3g}" in line
        assert f"{direction.n_heldout} runs" in line
        assert f"{100 * direction.relative_error:.2f}% on average" in line
    assert "largest model sizes" in lines[0] and "largest token counts" in lines[1]


def test_a_check_stored_before_directions_keeps_its_one_line():
    stored = {
        "n_heldout": 24,
        "relative_error": 0.0051,
        "max_relative_error": 0.012,
        "in_sample_relative_error": 0.004,
    }
    assert holdouts.describe(stored) == [
        "refitted without its 24 largest run(s), the law missed them by 0.51% on average "
        "(at most 1.20%; 0.40% on the runs it saw)"
    ]
    assert holdouts.describe(None) == [] and holdouts.describe({"relative_error": None}) == []


def test_candidates_show_each_directions_error():
    text = holdouts.describe_candidates(
        {"chinchilla": 0.02, "kaplan": None}, {"chinchilla": {"N": 0.03, "D": 0.01}}
    )
    assert text == "chinchilla 2.00% (N 3.00%, D 1.00%); kaplan -"
