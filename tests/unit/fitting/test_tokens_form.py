"""The "tokens" optimum form (LR_opt = a·D^c, for μP sweeps whose optimal LR does not move with
width): the D exponent recovered from sweeps at several widths with a covering interval, a prediction
that does not depend on N, no warning about a narrow range of N, and Step Law's form fitting the same
sweeps with an N exponent near zero."""

from __future__ import annotations

import numpy as np
import pytest

import fitting
from fitting.result import OptimumFit

A, C = 0.4, -0.25  # LR_opt = A · D^C, whatever the width


def mup_sweeps(
    rng: np.random.Generator,
    widths=(1e5, 4e5, 1.6e6),
    tokens_axis=(2e7, 8e7, 3.2e8, 1.28e9),
    sigma: float = 0.001,
) -> dict:
    """An LR sweep of 9 runs on sqrt(2) steps at each (N, D): 3 widths × 4 token counts, the optimum
    set by D alone, loss = a Chinchilla-like L0 times a bowl in log LR, with multiplicative noise."""
    runs = {k: [] for k in ("N", "D", "lr", "loss")}
    for n_params in widths:
        for tokens in tokens_axis:
            lr_opt = A * tokens**C
            base = 1.8 + 400 / n_params**0.34 + 2000 / tokens**0.28
            for step in 0.5 * np.log(2.0) * np.arange(-4, 5) + 0.2:
                lr = lr_opt * np.exp(step)
                runs["N"].append(n_params)
                runs["D"].append(tokens)
                runs["lr"].append(lr)
                runs["loss"].append(base * np.exp(0.01 * np.log(lr / lr_opt) ** 2 + rng.normal(0.0, sigma)))
    return {k: np.asarray(v) for k, v in runs.items()}


def test_the_tokens_form_recovers_the_d_exponent_and_ignores_n():
    fit = fitting.fit("lr_opt", **mup_sweeps(np.random.default_rng(0)), form="tokens", bootstrap=200, seed=0)
    assert (fit.form, fit.inputs, set(fit.params)) == ("tokens", ("D",), {"a", "c"})
    assert fit.params["c"] == pytest.approx(C, abs=0.02)
    assert fit.params["a"] == pytest.approx(A, rel=0.3)
    lo, hi = fit.ci(0.95)["c"]
    assert lo <= C <= hi and hi - lo < 0.1
    at_small, at_large = fit.predict(N=1e5, D=1e10), fit.predict(N=1e9, D=1e10)
    assert at_small.value == at_large.value and (at_small.lo, at_small.hi) == (at_large.lo, at_large.hi)
    assert at_small.value == pytest.approx(A * 1e10**C, rel=0.1)
    assert fit.predict(D=1e10).value == at_small.value  # N is not needed at all
    assert not any("in N" in w for w in fit.warnings)
    restored = OptimumFit.from_dict(fit.to_dict())
    assert restored.predict(D=1e10).value == pytest.approx(at_small.value, rel=1e-12)


def test_step_law_on_the_same_sweeps_finds_no_n_dependence():
    """The μP premise, seen from the standard form: with the optimum set by D, N's exponent is ~0."""
    fit = fitting.fit("lr_opt", **mup_sweeps(np.random.default_rng(1)), form="steplaw", bootstrap=0, seed=0)
    assert fit.params["b"] == pytest.approx(0.0, abs=0.02)
    assert fit.params["c"] == pytest.approx(C, abs=0.02)


def test_one_width_is_enough_and_a_narrow_range_of_d_is_flagged():
    runs = mup_sweeps(np.random.default_rng(2), widths=(1e5,))
    fit = fitting.fit("lr_opt", **runs, form="tokens", bootstrap=0, seed=0)
    assert fit.params["c"] == pytest.approx(C, abs=0.03)
    assert not any("in D" in w for w in fit.warnings)  # 64x is no narrow range
    two = {k: v[runs["D"] <= 8e7] for k, v in runs.items()}
    with pytest.raises(ValueError, match="needs at least 3"):
        fitting.fit("lr_opt", **two, form="tokens", bootstrap=0, seed=0)
    narrow = mup_sweeps(np.random.default_rng(3), widths=(1e5,), tokens_axis=(2e7, 3e7, 4.5e7))
    flagged = fitting.fit("lr_opt", **narrow, form="tokens", bootstrap=0, seed=0)
    assert any("2.2x in D" in w for w in flagged.warnings), flagged.warnings
    assert fitting.minimum("lr_opt", "tokens").groups == 3


def test_batch_opt_has_a_tokens_form_too():
    assert fitting.minimum("batch_opt", "tokens").groups == 3
    with pytest.raises(ValueError, match="form must be one of"):
        fitting.minimum("lr_opt", "width")


def test_the_compute_form_is_judged_by_its_span_in_n_not_in_d():
    """DeepSeek's form (C = 6ND) extrapolates to larger models: sweeps at one D over a narrow range of N
    warn about N, never about D (only the tokens form, a law of D alone, is judged by its D span)."""
    rng = np.random.default_rng(0)
    rows = {"N": [], "D": [], "lr": [], "loss": []}
    for n_params in (1e6, 1.5e6, 2e6, 2.5e6):  # 2.5x in N, one D
        best = 0.01 * (6 * n_params * 1e8 / 6e14) ** -0.3
        for lr in best * np.geomspace(0.25, 4, 9):
            rows["N"].append(n_params)
            rows["D"].append(1e8)
            rows["lr"].append(lr)
            rows["loss"].append(2.0 + 0.05 * np.log(lr / best) ** 2 + rng.normal(0, 1e-4))
    fit = fitting.fit("lr_opt", **rows, form="deepseek", bootstrap=0)
    assert any("x in N (less than" in w for w in fit.warnings), fit.warnings
    assert not any("x in D (less than" in w for w in fit.warnings), fit.warnings
