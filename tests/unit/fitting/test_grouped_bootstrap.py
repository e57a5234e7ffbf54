"""Checkpoints of one run are not independent runs: with `group=` the bootstrap resamples whole
runs. On the Gemstones ladder (22 runs, 10 checkpoints each) the grouped interval matches a bootstrap
over runs computed on its own (runs drawn and their rows copied) and is far wider than the row
bootstrap; rows without a group are their own; the nested refits and the scatter count groups."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import fitting
from fitting.bootstrap import resample_weights
from fitting.cuts import group_codes
from fitting.laws import LOSS_LAWS
from fitting.solve import solve_batch
from fitting.synthetic import chinchilla_sample

REPLICATES = 200


@pytest.fixture(scope="module")
def gemstones(shared_data):
    """The constant-LR ("hot") Gemstones checkpoints: N, D, loss and the run of each row."""
    path = shared_data / "gemstones2025" / "wandb_df_for_fitting_hot.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return (
        np.array([r["params_active_precise"] for r in rows], dtype=float),
        np.array([r["tokens"] for r in rows], dtype=float),
        np.array([r["final_loss"] for r in rows], dtype=float),
        np.array([r["run_name"] for r in rows]),
    )


def _by_runs(n_params, tokens, loss, runs, start, rng):
    """A bootstrap over runs written out: draw runs with replacement, copy all their rows, refit."""
    law = LOSS_LAWS["chinchilla"]
    names = np.unique(runs)
    draws = []
    for _ in range(REPLICATES):
        rows = np.concatenate(
            [np.flatnonzero(runs == names[k]) for k in rng.integers(0, names.size, names.size)]
        )
        logx = np.log(np.stack([n_params[rows], tokens[rows]]))
        solved = solve_batch(law, start[None, :], logx, np.log(loss[rows]), np.ones(rows.size), 1e-3)
        draws.append(law.to_natural(solved.theta)[0])
    return dict(zip(law.param_names, np.array(draws).T, strict=True))


def test_checkpoints_of_a_run_are_resampled_together(gemstones):
    n_params, tokens, loss, runs = gemstones
    by_row = fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=REPLICATES, seed=0)
    grouped = fitting.fit(
        "chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=REPLICATES, seed=0, group=runs
    )
    assert grouped.n_groups == 22 and by_row.n_groups is None
    assert grouped.n_failed_replicates == 0
    by_run = _by_runs(n_params, tokens, loss, runs, grouped.theta, np.random.default_rng(1))
    # 80% intervals: the 2.5% tails of 200 replicates hang on a handful of runs-poor resamples.
    for name in ("E", "alpha", "beta"):
        lo, hi = grouped.ci(0.8)[name]
        run_lo, run_hi = np.percentile(by_run[name], [10, 90])
        # The same width as the by-run computation, up to the Monte Carlo error of 200 replicates.
        assert (hi - lo) == pytest.approx(run_hi - run_lo, rel=0.25), name
    # Wider than resampling checkpoints as if they were runs, for the parameters the model sizes pin
    # (beta is loosely identified on this ladder; its row interval runs into a bound).
    for name in ("E", "alpha"):
        lo, hi = grouped.ci(0.8)[name]
        row_lo, row_hi = by_row.ci(0.8)[name]
        assert hi - lo > 1.4 * (row_hi - row_lo), name
    restored = fitting.load_fit(json.loads(json.dumps(grouped.to_dict())))
    assert restored.n_groups == 22
    assert restored.predict(N=1e10, D=1e12).hi == grouped.predict(N=1e10, D=1e12).hi


def test_every_row_its_own_group_is_the_row_bootstrap():
    n_params, tokens, loss = chinchilla_sample(np.random.default_rng(4))
    plain = fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=40, seed=3)
    singletons = fitting.fit(
        "chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=40, seed=3, group=[None] * loss.size
    )
    np.testing.assert_array_equal(singletons.draws, plain.draws)
    assert singletons.n_groups == loss.size


def test_group_codes_and_weights():
    codes = group_codes(["a", "b", None, "a", float("nan"), "b", ""], 7)
    np.testing.assert_array_equal(codes, [0, 1, 2, 0, 3, 1, 4])
    weights = resample_weights(7, 500, np.random.default_rng(0), codes)
    # A group's rows always weigh the same; every replicate draws as many groups as there are.
    np.testing.assert_array_equal(weights[:, 0], weights[:, 3])
    np.testing.assert_array_equal(weights[:, 1], weights[:, 5])
    group_counts = weights[:, [0, 1, 2, 4, 6]]
    assert np.all(group_counts.sum(axis=1) == 5)
    with pytest.raises(ValueError, match="one value per run"):
        n_params, tokens, loss = chinchilla_sample(np.random.default_rng(0))
        fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=0, group=["a", "b"])


def _checkpoints(n_runs: int, per_run: int = 12):
    """n_runs runs of a known law, each logged at per_run token counts (one group per run)."""
    rng = np.random.default_rng(2)
    n_params = np.repeat(np.logspace(7.5, 9.5, n_runs), per_run)
    tokens = n_params * np.tile(np.logspace(0.5, 2.5, per_run), n_runs)
    loss = (1.8 + 480 / n_params**0.35 + 2100 / tokens**0.37) * np.exp(rng.normal(0, 0.005, n_params.size))
    return n_params, tokens, loss, np.repeat(np.arange(n_runs), per_run)


def test_the_error_model_counts_runs_not_checkpoints():
    """8 runs of 12 checkpoints: 96 rows, but holding out the two largest models leaves 6 runs, too
    few for 5 parameters; the scatter's degrees of freedom are counted in runs (8 - 5, not 96 - 5)."""
    n_params, tokens, loss, runs = _checkpoints(8)
    ungrouped = fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=0)
    grouped = fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=0, group=runs)
    assert set(ungrouped.holdout.directions) == {"N", "D"}
    assert set(grouped.holdout.directions) == {"D"}
    # no N refit (it would keep 6 runs); the tokens-per-parameter refits keep enough runs too
    assert {h.axis for h in grouped.error_model.held_out} - {"N/D"} == {"D"}
    assert "N" in {h.axis for h in ungrouped.error_model.held_out}
    np.testing.assert_array_equal(grouped.theta, ungrouped.theta)
    ratio = grouped.error_model.scatter / ungrouped.error_model.scatter
    assert ratio == pytest.approx(math.sqrt((8 / 3) / (96 / 91)), rel=1e-9)


def test_too_few_runs_behind_many_checkpoints_is_said():
    n_params, tokens, loss, runs = _checkpoints(5)
    fit = fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=20, group=runs)
    assert any("come from 5 runs" in w for w in fit.warnings), fit.warnings
    assert fit.holdout is None and fit.error_model.refits == 0
