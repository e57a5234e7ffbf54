"""Bad input raises ValueError with a message that says what is wrong and how to fix it."""

from __future__ import annotations

import numpy as np
import pytest

import fitting

N = np.logspace(7, 9, 12)
D = 20 * N * np.tile([1.0, 3.0], 6)
LOSS = 1.8 + 400 / N**0.34 + 2000 / D**0.37


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"law": "chinchila"}, "unknown law 'chinchila'"),
        ({"loss": np.r_[LOSS[:-1], np.nan]}, "loss has 1 NaN or infinite"),
        ({"N": np.r_[N[:-1], 0.0]}, "N must be positive, but row 11 is 0.0"),
        ({"D": np.r_[D[:-1], -5.0]}, "D must be positive"),
        ({"D": D[:-1]}, "lengths differ (N=12, D=11, loss=12)"),
        ({"N": N[:6], "D": D[:6], "loss": LOSS[:6]}, "needs at least 7 runs, got 6: add 1 more"),
        ({"N": np.full(12, 1e8)}, "N takes a single value"),
        ({"bootstrap": -1}, "bootstrap must be a non-negative integer"),
        ({"bootstrap": 1.5}, "bootstrap must be a non-negative integer"),
        ({"delta": 0.0}, "delta must be a positive"),
        ({"D": None}, "D (training tokens per run) is required"),
        ({"C": 6 * N * D}, "give D (tokens) or C (training FLOPs), not both"),
        ({"law": "power"}, "pass exactly one of N, D, C or x"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(kwargs, message):
    arguments = {"law": "chinchilla", "N": N, "D": D, "loss": LOSS, "bootstrap": 0}
    arguments.update(kwargs)
    with pytest.raises(ValueError) as raised:
        fitting.fit(arguments.pop("law"), **arguments)
    assert message in str(raised.value)


def test_predict_and_ci_refuse_bad_arguments():
    fit = fitting.fit("chinchilla", N=N, D=D, loss=LOSS, bootstrap=0)
    with pytest.raises(ValueError, match="no bootstrap draws"):
        fit.ci()
    with pytest.raises(ValueError, match="predict needs D="):
        fit.predict(N=1e9)
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        fit.predict(N=1e9, D=1e10, level=95)
    with pytest.raises(ValueError, match="N must be positive"):
        fit.predict(N=-1.0, D=1e10)
    with pytest.raises(ValueError, match="needs a law of N and D"):
        fitting.optimal_allocation(fitting.fit("power", N=N, loss=LOSS, bootstrap=0), compute=1e20)
    with pytest.raises(ValueError, match="compute must be positive"):
        fitting.optimal_allocation(fit, compute=0.0)


def test_unidentified_exponent_is_flagged_not_hidden():
    """Loss that does not depend on D at all: beta has nothing to fit and must say so."""
    loss = 1.8 + 400 / N**0.34
    fit = fitting.fit("chinchilla", N=N, D=D, loss=loss, bootstrap=20, seed=0)
    assert any("bound" in warning for warning in fit.warnings), fit.warnings


def test_too_few_runs_to_hold_out_is_said_and_auto_skips_that_form():
    """7 runs for 5 parameters leave none to hold out: the fit says its extrapolation is unknown,
    and 'auto' reports that form's held-out error as None (valid JSON) instead of choosing it."""
    n_params, tokens, loss = N[:7], D[:7], LOSS[:7] * np.exp(np.random.default_rng(0).normal(0, 0.01, 7))
    fit = fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=20, seed=0)
    assert fit.holdout is None
    assert any("extrapolation error is unknown" in warning for warning in fit.warnings)
    chosen = fitting.fit("auto", N=n_params, D=tokens, loss=loss, bootstrap=20, seed=0)
    assert chosen.candidates["chinchilla"] is None
    assert chosen.law != "chinchilla"
    quiet = fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=0, holdout_fraction=0)
    assert not any("extrapolation" in warning for warning in quiet.warnings)
