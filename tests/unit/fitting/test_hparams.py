"""Optimal LR and batch-size laws: per-sweep optima recovered from synthetic bowls, the Step Law
and DeepSeek forms recovered with covering intervals, edge optima flagged, "auto" choosing the
right form, the Step Law release reproduced, storage round trip and input errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import fitting
from fitting.result import OptimumFit

STEPLAW_TRUTH = {"lr": (1.79, -0.713, 0.307), "batch": (0.58, 0.571)}
DEEPSEEK_TRUTH = {"lr": (0.3118, -0.1250), "batch": (0.2920, 0.3271)}  # Bi et al. 2024, eq. 1


def sweep(form: str, rng: np.random.Generator, sigma: float = 0.001, lr_offset: float = 0.3) -> dict:
    """9 (N, D) sweeps, each an 11 x 7 grid of LR x batch on sqrt(2) steps around the true optimum
    (shifted by lr_offset e-folds), loss = Chinchilla-like L0 times a bowl in log LR and log B."""
    runs = {k: [] for k in ("N", "D", "lr", "batch", "loss")}
    for n_params in (1e8, 3e8, 1e9):
        for ratio in (20.0, 60.0, 200.0):
            tokens = ratio * n_params
            if form == "steplaw":
                a, b, c = STEPLAW_TRUTH["lr"]
                lr_opt = a * n_params**b * tokens**c
                batch_opt = STEPLAW_TRUTH["batch"][0] * tokens ** STEPLAW_TRUTH["batch"][1]
            else:
                compute = 6 * n_params * tokens
                lr_opt = DEEPSEEK_TRUTH["lr"][0] * compute ** DEEPSEEK_TRUTH["lr"][1]
                batch_opt = DEEPSEEK_TRUTH["batch"][0] * compute ** DEEPSEEK_TRUTH["batch"][1]
            steps = 0.5 * np.log(2.0) * np.arange(-5, 6)
            lrs = lr_opt * np.exp(steps + lr_offset)
            batches = batch_opt * np.exp(0.5 * np.log(2.0) * np.arange(-3, 4) - 0.2)
            base = 1.8 + 400 / n_params**0.34 + 2000 / tokens**0.28
            for lr in lrs:
                for batch in batches:
                    bowl = 0.01 * np.log(lr / lr_opt) ** 2 + 0.006 * np.log(batch / batch_opt) ** 2
                    runs["N"].append(n_params)
                    runs["D"].append(tokens)
                    runs["lr"].append(lr)
                    runs["batch"].append(batch)
                    runs["loss"].append(base * np.exp(bowl + rng.normal(0.0, sigma)))
    return {k: np.asarray(v) for k, v in runs.items()}


def test_steplaw_exponents_are_recovered_with_covering_intervals():
    runs = sweep("steplaw", np.random.default_rng(0))
    lr = fitting.fit("lr_opt", **runs, form="steplaw", bootstrap=300, seed=0)
    assert lr.law == "lr_opt" and lr.form == "steplaw"
    assert lr.params["b"] == pytest.approx(-0.713, abs=0.03)
    assert lr.params["c"] == pytest.approx(0.307, abs=0.03)
    ci = lr.ci(0.95)
    assert ci["b"][0] <= -0.713 <= ci["b"][1] and ci["c"][0] <= 0.307 <= ci["c"][1]
    assert all(o.status == "found" for o in lr.optima)
    batch = fitting.fit("batch_opt", **runs, form="steplaw", bootstrap=300, seed=0)
    assert batch.params["c"] == pytest.approx(0.571, abs=0.03)
    assert batch.ci()["c"][0] <= 0.571 <= batch.ci()["c"][1]
    # The per-sweep optimum itself: within 10% of the truth at every scale.
    for optimum in lr.optima:
        truth = 1.79 * optimum.N**-0.713 * optimum.D**0.307
        assert optimum.lr.value == pytest.approx(truth, rel=0.1)
        assert optimum.lr.lo < optimum.lr.value < optimum.lr.hi


def test_deepseek_constants_are_recovered_and_auto_prefers_deepseek():
    runs = sweep("deepseek", np.random.default_rng(1))
    lr = fitting.fit("lr_opt", **runs, form="auto", bootstrap=200, seed=0)
    assert lr.form == "deepseek"
    assert set(lr.candidates) == {"steplaw", "deepseek"}
    assert lr.params["b"] == pytest.approx(-0.125, abs=0.02)
    batch = fitting.fit("batch_opt", **runs, form="deepseek", bootstrap=200, seed=0)
    assert batch.params["b"] == pytest.approx(0.3271, abs=0.02)
    # A prediction at 1e21 FLOPs, 100x beyond the sweeps, against the published law.
    predicted = batch.predict(C=1e21)
    assert predicted.value == pytest.approx(0.2920 * 1e21**0.3271, rel=0.25)
    assert predicted.lo < predicted.value < predicted.hi
    # predict(N=, D=) uses C = 6ND.
    assert lr.predict(N=1e9, D=2e10).value == pytest.approx(lr.predict(C=1.2e20).value)


def test_optimum_beyond_the_swept_range_is_flagged_edge_and_left_out():
    runs = sweep("steplaw", np.random.default_rng(2))
    first = (runs["N"] == 1e8) & (runs["D"] == 2e9)
    lr_opt = 1.79 * 1e8**-0.713 * 2e9**0.307
    keep = ~first | (runs["lr"] > 1.5 * lr_opt)  # that sweep now starts above its optimum
    runs = {k: v[keep] for k, v in runs.items()}
    lr = fitting.fit("lr_opt", **runs, form="steplaw", bootstrap=50, seed=0)
    statuses = {(o.N, o.D): o.status for o in lr.optima}
    assert statuses[(1e8, 2e9)] == "edge"
    assert sum(s == "found" for s in statuses.values()) == 8
    assert any("edge of the swept range" in w for w in lr.warnings)


def test_lr_only_sweeps_use_a_one_dimensional_bowl():
    runs = sweep("steplaw", np.random.default_rng(3))
    middle = np.zeros(runs["batch"].size, dtype=bool)
    for tokens in np.unique(runs["D"]):
        cell = runs["D"] == tokens
        middle |= cell & (runs["batch"] == np.unique(runs["batch"][cell])[3])
    one_axis = {k: v[middle] for k, v in runs.items() if k != "batch"}
    lr = fitting.fit("lr_opt", **one_axis, form="steplaw", bootstrap=100, seed=0)
    assert lr.params["b"] == pytest.approx(-0.713, abs=0.05)
    assert all(o.batch is None for o in lr.optima)


def test_deterministic_for_a_seed_and_storage_round_trip():
    runs = sweep("steplaw", np.random.default_rng(4))
    first = fitting.fit("lr_opt", **runs, form="auto", bootstrap=50, seed=7)
    again = fitting.fit("lr_opt", **runs, form="auto", bootstrap=50, seed=7)
    np.testing.assert_array_equal(first.draws, again.draws)
    restored = OptimumFit.from_dict(first.to_dict())
    assert restored.params == first.params and restored.optima == first.optima
    assert first.window == restored.window == 0.02  # the default bowl window, recorded
    query = {"N": np.array([1e9, 7e9]), "D": np.array([2e10, 1.4e12])}
    np.testing.assert_allclose(restored.predict(**query).hi, first.predict(**query).hi)


def _steplaw_release(shared_data: Path) -> dict[str, np.ndarray]:
    with (shared_data / "steplaw" / "dense_lr_bs_loss.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return {
        "N": np.array([float(r["N"]) for r in rows]),
        "D": np.array([float(r["D"]) for r in rows]),
        "lr": np.array([float(r["lr"]) for r in rows]),
        "batch": np.array([float(r["bs"]) * 2048 for r in rows]),  # sequences of 2048 tokens
        "loss": np.array([float(r["smooth loss"]) for r in rows]),
    }


@pytest.mark.data
def test_steplaw_release_with_the_authors_recipe_gives_what_source_md_states(shared_data):
    """SOURCE.md: the released CSV with the released recipe (runs within 0.25% of each cell's best,
    OLS) gives eta = 77.7 N^-0.766 D^0.197 and B = 0.209 D^0.613."""
    runs = _steplaw_release(shared_data)
    lr = fitting.fit("lr_opt", **runs, form="steplaw", method="band", bootstrap=200, seed=0)
    assert lr.params["a"] == pytest.approx(77.7, rel=0.005)
    assert lr.params["b"] == pytest.approx(-0.766, abs=0.0005)
    assert lr.params["c"] == pytest.approx(0.197, abs=0.0005)
    batch = fitting.fit("batch_opt", **runs, form="steplaw", method="band", bootstrap=200, seed=0)
    assert batch.params["a"] == pytest.approx(0.209, rel=0.005)
    assert batch.params["c"] == pytest.approx(0.613, abs=0.0005)


@pytest.mark.data
def test_steplaw_release_with_bowl_optima_covers_the_published_law(shared_data):
    """Per-cell asymmetric (cubic) bowl optima on the release: the published N exponent (-0.713) and
    batch exponent (0.571) lie inside our 95% intervals, and Step Law beats DeepSeek's C-only form
    out of sample. The D exponent of LR: SOURCE.md finds 0.197 with the authors' own recipe on this
    file (0.307 published, from more runs than were released); ours agrees with the recipe (0.207),
    its interval covering 0.197 and reaching 0.30."""
    runs = _steplaw_release(shared_data)
    lr = fitting.fit("lr_opt", **runs, form="auto", bootstrap=300, seed=0)
    assert lr.form == "steplaw" and lr.candidates["steplaw"] < lr.candidates["deepseek"]
    ci = lr.ci(0.95)
    assert ci["b"][0] <= -0.713 <= ci["b"][1]
    assert ci["c"][0] <= 0.197 <= ci["c"][1] and ci["c"][1] >= 0.30
    assert lr.params["b"] == pytest.approx(-0.713, abs=0.1)
    assert lr.params["c"] == pytest.approx(0.197, abs=0.03)
    batch = fitting.fit("batch_opt", **runs, form="steplaw", bootstrap=300, seed=0)
    assert batch.params["c"] == pytest.approx(0.571, abs=0.02)
    assert batch.ci()["c"][0] <= 0.571 <= batch.ci()["c"][1]
    assert all(o.status == "found" for o in lr.optima)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lr": None}, "lr_opt needs lr="),
        ({"form": "chinchilla"}, "form must be one of steplaw, deepseek, auto"),
        ({"method": "grid"}, "method must be 'quadratic' or 'band'"),
        ({"lr": np.full(693, 1e-3)}, "every sweep must vary lr"),
        ({"batch": np.zeros(693)}, "batch must be positive"),
        ({"window": -1.0}, "window must be a positive"),
        ({"D": None}, r"needs N= \(parameters\) and D= \(tokens\)"),
        ({"holdoutx": 1}, "unexpected keyword"),
    ],
)
def test_bad_sweep_input_is_refused_with_a_clear_message(change, message):
    runs = sweep("steplaw", np.random.default_rng(5))
    arguments = {**runs, "form": "steplaw", "bootstrap": 0, **change}
    with pytest.raises((ValueError, TypeError), match=message):
        fitting.fit("lr_opt", **arguments)


def test_loss_laws_refuse_sweep_arguments():
    with pytest.raises(ValueError, match="belong to 'lr_opt'"):
        fitting.fit("chinchilla", N=[1e8] * 9, D=[1e9] * 9, loss=[3.0] * 9, lr=[1e-3] * 9)
