"""The prediction interval of a loss law: where a new run's loss lands. On a known law it covers
new noisy runs at its nominal rate; it contains the parameter interval, widens with the distance
beyond the fitted range (estimated from nested refits of the data itself), and beyond the fitted
runs' fewest tokens per parameter where the law misfits early training, survives storage, and is
unbounded beyond the range when too few runs leave no refit to measure extrapolation; on Hoffmann et
al.'s runs it holds for models ten times larger than any fitted."""

from __future__ import annotations

import numpy as np
import pytest

import fitting
from fitting.synthetic import CHINCHILLA_TRUTH, chinchilla_design, chinchilla_sample


def _truth(n_params, tokens):
    t = CHINCHILLA_TRUTH
    return t["E"] + t["A"] / n_params ** t["alpha"] + t["B"] / tokens ** t["beta"]


def test_new_runs_at_fitted_scales_land_inside_at_the_nominal_rate():
    rng = np.random.default_rng(7)
    inside = total = 0
    for trial in range(8):
        n_params, tokens, loss = chinchilla_sample(rng, sigma=0.01)
        fit = fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=60, seed=trial)
        new = _truth(n_params, tokens) * np.exp(rng.normal(0.0, 0.01, n_params.size))
        estimate = fit.predict(N=n_params, D=tokens)
        inside += int(np.sum((estimate.lo <= new) & (new <= estimate.hi)))
        total += new.size
    assert 0.93 <= inside / total <= 0.985, inside / total


def test_it_contains_the_parameter_interval_and_widens_beyond_the_range():
    n_params, tokens, loss = chinchilla_sample(np.random.default_rng(3), sigma=0.01)
    fit = fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=60, seed=0)
    model = fit.error_model
    assert model.refits >= 2 and model.scatter == pytest.approx(0.01, rel=0.3)
    assert {h.axis for h in model.held_out} == {"N", "D", "N/D"}
    widths = []
    for factor in (1.0, 10.0, 100.0):
        query = {"N": n_params.max() * factor, "D": tokens.max() * factor}
        wide, narrow = fit.predict(**query), fit.predict(interval="parameter", **query)
        assert wide.value == narrow.value and wide.lo <= narrow.lo and narrow.hi <= wide.hi
        widths.append(np.log(wide.hi / wide.lo))
    assert widths[0] < widths[1] < widths[2]
    restored = fitting.load_fit(fit.to_dict())
    assert restored.error_model == model
    assert restored.predict(N=1e11, D=2e12).hi == fit.predict(N=1e11, D=2e12).hi
    with pytest.raises(ValueError, match="interval must be"):
        fit.predict(N=1e9, D=1e10, interval="confidence")


def test_fewer_tokens_per_parameter_than_any_fitted_run_widens_only_those_queries():
    # Early in training (few tokens per parameter) the loss sits above the law, by up to 8% at
    # D = N: the runs with the fewest tokens per parameter misfit it most.
    rng = np.random.default_rng(5)
    n_params, tokens = chinchilla_design()
    loss = _truth(n_params, tokens) * (1 + 0.08 * np.exp(1 - tokens / n_params))
    loss = loss * np.exp(rng.normal(0.0, 0.005, loss.size))
    fit = fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=60, seed=0)
    model = fit.error_model
    assert model.ratio is not None and model.ratio.slope > 0 and model.ratio.refits >= 1
    assert model.ratio.maximum == pytest.approx(np.max(n_params / tokens))
    without = fitting.load_fit({**fit.to_dict(), "error_model": {**model.to_dict(), "ratio": None}})
    # within the fitted tokens per parameter (D/N >= 1): the interval is exactly as without the term
    for query in ({"N": 1e9, "D": 2e10}, {"N": 3e10, "D": 6e11}, {"N": 1e8, "D": 1e8}):
        assert fit.predict(**query).hi == without.predict(**query).hi
    # fewer tokens per parameter than any fitted run: wider, and the further the wider
    widths = []
    for ratio in (0.3, 0.1):
        query = {"N": 1e9, "D": 1e9 * ratio}
        wide, old = fit.predict(**query), without.predict(**query)
        assert wide.value == old.value and wide.lo < old.lo and old.hi < wide.hi
        widths.append(np.log(wide.hi / wide.lo))
    assert widths[0] < widths[1]
    assert fitting.load_fit(fit.to_dict()).error_model == model


def test_too_few_runs_to_refit_leave_extrapolation_unbounded_and_say_so():
    n_params, tokens = chinchilla_design()
    keep = slice(0, 80, 11)  # 8 runs for 5 parameters: no refit can hold any out
    loss = _truth(n_params[keep], tokens[keep])
    fit = fitting.fit("chinchilla", N=n_params[keep], D=tokens[keep], loss=loss, bootstrap=0)
    assert fit.error_model.refits == 0
    assert any("prediction interval is unbounded" in w for w in fit.warnings)
    assert np.isinf(fit.predict(N=1e11, D=1e12).hi)
    inside = fit.predict(N=float(n_params[keep][0]), D=float(tokens[keep][0]))
    assert np.isfinite(inside.hi)


def test_on_a_published_ladder_it_holds_for_models_ten_times_larger(chinchilla_points):
    """Hoffmann et al.'s runs (Epoch's points): fit the models at most a tenth of the largest, predict
    every larger run (bench.extrapolation --protocol tenfold). The prediction interval holds; the
    parameter interval alone, a third as wide, misses most of them."""
    p = chinchilla_points
    fitted = p["N"] <= 0.1 * p["N"].max()
    fit = fitting.fit(
        "chinchilla", N=p["N"][fitted], D=p["D"][fitted], loss=p["loss"][fitted], bootstrap=200, seed=0
    )
    held = ~fitted
    assert held.sum() >= 50 and p["N"][held].max() / p["N"][fitted].max() >= 10
    prediction = fit.predict(N=p["N"][held], D=p["D"][held])
    parameter = fit.predict(N=p["N"][held], D=p["D"][held], interval="parameter")
    observed = p["loss"][held]

    def coverage(estimate):
        return float(np.mean((estimate.lo <= observed) & (observed <= estimate.hi)))

    assert coverage(prediction) >= 0.9
    assert coverage(parameter) <= 0.6
    assert np.median((prediction.hi - prediction.lo) / prediction.value) < 0.06
