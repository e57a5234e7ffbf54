"""`fit("auto")` picks the form that extrapolates best to the largest model sizes and to the largest
token counts (each held out in turn) and reports every candidate's errors per direction; a fit
survives to_dict/from_dict; allocation by grid search agrees with the closed form."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import fitting
from fitting.result import Fit
from fitting.synthetic import chinchilla_design, chinchilla_sample


def test_auto_reports_every_candidate_and_picks_the_best_extrapolator():
    n_params, tokens = chinchilla_design()
    loss = 2.0 + 300.0 / n_params**0.3 + 900.0 / tokens**0.3
    loss *= np.exp(np.random.default_rng(5).normal(0, 0.003, loss.size))
    fit = fitting.fit("auto", N=n_params, D=tokens, loss=loss, bootstrap=50, seed=0)
    assert set(fit.candidates) == {"chinchilla", "chinchilla_equal", "kaplan"}
    assert fit.law == min(fit.candidates, key=fit.candidates.get)
    assert fit.law in ("chinchilla", "chinchilla_equal")  # Kaplan's form has no floor E
    assert fit.candidates["kaplan"] > fit.candidates[fit.law]
    assert fit.holdout.relative_error == pytest.approx(fit.candidates[fit.law])
    # The score is the mean of the two directions' errors, each reported.
    for name, errors in fit.candidate_errors.items():
        assert set(errors) == {"N", "D"}
        assert fit.candidates[name] == pytest.approx((errors["N"] + errors["D"]) / 2)


def test_holdout_holds_out_every_run_of_the_largest_sizes_then_of_the_largest_token_counts():
    n_params, tokens, loss = chinchilla_sample(np.random.default_rng(1))
    holdout = fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=0).holdout
    by_size, by_tokens = holdout.directions["N"], holdout.directions["D"]
    # 10 sizes over 2.5 decades: the top sixth of the log range holds the two largest, 8 runs each.
    sizes = np.unique(n_params)
    assert by_size.threshold == pytest.approx(sizes[-2]) and by_size.n_heldout == 16
    assert by_tokens.n_heldout == int(np.sum(tokens >= by_tokens.threshold * (1 - 1e-12)))
    assert np.log(tokens.max() / by_tokens.threshold) <= np.log(tokens.max() / tokens.min()) / 6
    for direction in (by_size, by_tokens):
        assert 0.0 < direction.in_sample_relative_error < direction.relative_error < 0.05
    assert holdout.relative_error == pytest.approx((by_size.relative_error + by_tokens.relative_error) / 2)
    restored = Fit.from_dict(
        json.loads(json.dumps(fitting.fit("auto", N=n_params, D=tokens, loss=loss, bootstrap=0).to_dict()))
    )
    assert set(restored.holdout.directions) == {"N", "D"} and set(restored.candidate_errors) == set(
        restored.candidates
    )


@pytest.mark.parametrize(
    ("truth", "law"),
    [
        (lambda n, d: 1.8 + 480 / n**0.28 + 2100 / d**0.45, "chinchilla"),
        (lambda n, d: ((8.8e13 / n) ** (0.076 / 0.095) + 5.4e13 / d) ** 0.095, "kaplan"),
    ],
)
def test_auto_picks_the_form_the_data_came_from(truth, law):
    n_params, tokens = chinchilla_design()
    loss = truth(n_params, tokens) * np.exp(np.random.default_rng(0).normal(0, 0.005, n_params.size))
    fit = fitting.fit("auto", N=n_params, D=tokens, loss=loss, bootstrap=0)
    assert fit.law == law, fit.candidates
    for other, errors in fit.candidate_errors.items():
        if other != law:  # the wrong forms extrapolate worse in at least one direction
            assert (
                max(
                    errors["N"] / fit.candidate_errors[law]["N"], errors["D"] / fit.candidate_errors[law]["D"]
                )
                > 1.5
            )


@pytest.mark.parametrize("train_set", ["c4_original", "rpj", "rw_original"])
def test_auto_picks_the_tied_form_on_the_overtraining_ladder(shared_data, train_set):
    """Gadre et al. 2024 (10M-6.9B models, up to 640 tokens per parameter): their law is Chinchilla's with
    alpha = beta, and that form extrapolates best to the 6.9B runs; auto must pick it. The old
    largest-compute holdout chose the free form on RedPajama."""
    with (shared_data / "gadre2024_overtraining" / "runs_losses.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["train_dataset"] == train_set and r["loss_c4_val"]]
    columns = {k: np.array([float(r[k]) for r in rows]) for k in ("N_params", "D_tokens", "loss_c4_val")}
    fit = fitting.fit(
        "auto", N=columns["N_params"], D=columns["D_tokens"], loss=columns["loss_c4_val"], bootstrap=0
    )
    assert fit.law == "chinchilla_equal", fit.candidate_errors
    to_largest = {name: errors["N"] for name, errors in fit.candidate_errors.items()}
    assert min(to_largest, key=to_largest.get) == "chinchilla_equal"
    assert fit.holdout.directions["N"].threshold == pytest.approx(columns["N_params"].max())


def test_round_trip_through_json_keeps_predictions():
    n_params, tokens, loss = chinchilla_sample(np.random.default_rng(8))
    fit = fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=60, seed=0)
    restored = Fit.from_dict(json.loads(json.dumps(fit.to_dict())))
    original, again = fit.predict(N=1e10, D=2e11), restored.predict(N=1e10, D=2e11)
    assert (again.value, again.lo, again.hi) == (original.value, original.lo, original.hi)
    assert restored.ci() == fit.ci()
    assert restored.holdout == fit.holdout


@pytest.mark.parametrize("law", ["chinchilla", "chinchilla_equal"])
def test_numeric_allocation_matches_closed_form(law):
    n_params, tokens, loss = chinchilla_sample(np.random.default_rng(9))
    fit = fitting.fit(law, N=n_params, D=tokens, loss=loss, bootstrap=50, seed=0)
    closed = fitting.optimal_allocation(fit, compute=np.array([1e21, 1e23]))
    numeric = fitting.optimal_allocation(
        fit, compute=np.array([1e21, 1e23]), flops_per_token=lambda n: 6.0 * n
    )
    np.testing.assert_allclose(numeric.n_params.value, closed.n_params.value, rtol=1e-4)
    np.testing.assert_allclose(numeric.n_params.hi, closed.n_params.hi, rtol=1e-4)
    np.testing.assert_allclose(numeric.exponent_n.value, closed.exponent_n.value, atol=1e-3)
    assert np.all(numeric.tokens.value * numeric.n_params.value * 6.0 == pytest.approx([1e21, 1e23]))


@pytest.mark.data
def test_allocation_of_hoffmann_rounded_law(chinchilla_reference):
    """SOURCE.md derives D/N = 92.8 at 5.88e23 FLOPs from Hoffmann's rounded parameters."""
    published = chinchilla_reference["hoffmann_2022_approach3_published_rounded"]
    derived = chinchilla_reference["derived_by_us_not_published"]["hoffmann_rounded"]
    params = {k: published[k] for k in ("E", "A", "B", "alpha", "beta")}
    theta = fitting.LOSS_LAWS["chinchilla"].from_natural(
        np.array([params[k] for k in ("E", "A", "B", "alpha", "beta")])
    )
    fit = Fit(
        law="chinchilla",
        params=params,
        theta=theta,
        draws=np.empty((0, 5)),
        objective=0.0,
        n_points=0,
        converged=True,
        n_bootstrap=0,
        n_failed_replicates=0,
        delta=1e-3,
        seed=0,
        holdout=None,
        input_ranges={},
    )
    allocation = fitting.optimal_allocation(fit, compute=5.88e23)
    assert allocation.n_params.value == pytest.approx(derived["N_opt"], rel=0.01)
    assert allocation.tokens_per_param.value == pytest.approx(derived["D_over_N"], rel=0.01)
    assert allocation.exponent_n.value == pytest.approx(derived["a"], abs=1e-3)


def test_kaplan_allocation_has_an_interior_optimum():
    n_params, tokens = chinchilla_design()
    loss = ((8.8e13 / n_params) ** (0.076 / 0.095) + 5.4e13 / tokens) ** 0.095
    fit = fitting.fit("kaplan", N=n_params, D=tokens, loss=loss, bootstrap=30, seed=0)
    allocation = fitting.optimal_allocation(fit, compute=1e21)
    assert allocation.warnings == []
    assert 1e3 < allocation.n_params.value < 1e21 / 6 / 1e3
    assert 0.0 < allocation.exponent_n.value < 1.0


@pytest.mark.parametrize("law", ["chinchilla", "chinchilla_equal"])
def test_one_budget_allocation_gives_the_numbers_of_the_general_path(law):
    """A scalar budget (the service's query) gives the values and intervals of a one-budget array."""
    n_params, tokens, loss = chinchilla_sample(np.random.default_rng(5))
    fit = fitting.fit(law, N=n_params, D=tokens, loss=loss, bootstrap=60, seed=0)
    for compute in (1e18, 5.9e23, 3e25):
        for _ in range(2):  # the second call reuses the fit's prepared evaluator
            one = fitting.optimal_allocation(fit, compute=compute)
            general = fitting.optimal_allocation(fit, compute=np.array([compute]))
            for name in ("n_params", "tokens", "tokens_per_param", "loss", "exponent_n", "exponent_d"):
                ours, theirs = getattr(one, name), getattr(general, name)
                assert isinstance(ours.value, float)
                np.testing.assert_allclose(
                    [ours.value, ours.lo, ours.hi],
                    [np.ravel(theirs.value)[0], np.ravel(theirs.lo)[0], np.ravel(theirs.hi)[0]],
                    rtol=1e-12,
                    err_msg=name,
                )
            assert one.warnings == general.warnings
