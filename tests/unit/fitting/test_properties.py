"""Property tests of the fitting entry points: any finite input of a plausible shape gives a result or
a ValueError, never another exception, and a result's parameters and predictions are finite numbers
or come with a warning saying why they are not.

Inputs are drawn from plausible shapes and their degenerate cases: a handful of rows, constant
columns, duplicated rows, magnitudes from 1e-300 to 1e300, and any finite float (negatives and zeros
included, which must be refused with a ValueError). Generation is derandomised so CI is reproducible;
example counts are modest so the file runs in about a minute (the loss laws' part is marked slow).
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fitting

PROPERTY = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
# Decades a column's values may span: ordinary, tiny, huge, and the edges of floating point.
MAGNITUDES = [(0, 1), (3, 12), (-30, -20), (20, 30), (-300, -290), (290, 300)]
ANY_FINITE = st.floats(allow_nan=False, allow_infinity=False)
# True three times in four: the plausible branch of a strategy. Hypothesis starts from a strategy's
# simplest values (the first of a sampled_from), so the plausible shape comes first.
PLAUSIBLE = st.sampled_from([True, True, True, False])


@st.composite
def column(draw, n: int, magnitudes=MAGNITUDES) -> np.ndarray:
    """n finite floats: spread over a few decades, random in a decade range, constant, duplicated, or
    any finite float."""
    shape = draw(st.sampled_from(["spread"] * 4 + ["random", "constant", "duplicates", "any"]))
    if shape == "any":
        return np.array(draw(st.lists(ANY_FINITE, min_size=n, max_size=n)), dtype=float)
    low, high = draw(st.sampled_from(magnitudes))
    exponent = st.floats(low, high, allow_nan=False)
    if shape == "spread":  # distinct values, evenly in log over up to 3 decades, in any order
        start, width = draw(exponent), draw(st.floats(0.3, 3.0))
        order = draw(st.permutations(range(n)))
        return 10.0 ** (start + width * np.linspace(0.0, 1.0, n)[order])
    if shape == "constant":
        return np.full(n, 10.0 ** draw(exponent))
    if shape == "duplicates":
        values = draw(st.lists(exponent, min_size=1, max_size=3))
        return 10.0 ** np.array([values[i % len(values)] for i in range(n)])
    return 10.0 ** np.array(draw(st.lists(exponent, min_size=n, max_size=n)))


def count(low: int, high: int) -> st.SearchStrategy[int]:
    """An integer in [low, high], largest first: Hypothesis starts from a strategy's first values,
    and the small counts are the degenerate ones, drawn less often."""
    return st.sampled_from(range(high, low - 1, -1))


@st.composite
def loss_runs(draw, min_rows: int = 1, max_rows: int = 24) -> dict[str, np.ndarray]:
    """N, D and a loss per run: the loss either from a Chinchilla-like law (with noise) or any column."""
    n = draw(count(min_rows, max_rows))
    N, D = draw(column(n)), draw(column(n))
    if draw(PLAUSIBLE):
        noise = np.array(draw(st.lists(st.floats(-0.05, 0.05), min_size=n, max_size=n)))
        with np.errstate(all="ignore"):
            loss = (1.7 + 400 / np.abs(N) ** 0.34 + 410 / np.abs(D) ** 0.28) * np.exp(noise)
        loss = np.where(np.isfinite(loss), loss, 1.0)  # inputs stay finite: the property is about those
    else:
        loss = draw(column(n, [(-1, 1), (-30, 30), (290, 300), (-300, -290)]))
    return {"N": N, "D": D, "loss": loss}


def _finite_or_warned(value: Any, result: Any, what: str) -> None:
    """A number (or array) is finite, or the result carries a warning."""
    array = np.asarray(value, dtype=float)
    if not np.isfinite(array).all():
        assert result.warnings, f"{what} is not finite ({value!r}) and the result gives no warning"


def _estimate_ok(estimate: Any, result: Any, what: str) -> None:
    """An Estimate's value finite (or warned); its interval, where both ends are numbers, in order."""
    _finite_or_warned(estimate.value, result, f"{what}.value")
    lo, hi = np.asarray(estimate.lo, dtype=float), np.asarray(estimate.hi, dtype=float)
    both = ~np.isnan(lo) & ~np.isnan(hi)
    assert (lo[both] <= hi[both]).all(), f"{what}: interval [{lo}, {hi}] out of order"


def _check(prop, outcomes: Counter, least: int) -> None:
    """Run the property, then make sure it was not vacuous: at least `least` draws gave a result."""
    prop()
    assert outcomes["result"] >= least, f"only {outcomes['result']} draws gave a result: {dict(outcomes)}"


def _result_or_value_error(call) -> Any:
    """The call's result, or None when it raised ValueError; any other exception fails the property."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow notices are not results
            return call()
    except ValueError as error:
        assert str(error), "a ValueError must say what is wrong"
        return None


@pytest.mark.slow  # 10-30 s a law: the searches and nested refits of 40 fits
@pytest.mark.parametrize("law", ["chinchilla", "kaplan", "power", "auto"])
def test_loss_law_fit_gives_a_result_or_a_value_error(law: str) -> None:
    outcomes: Counter = Counter()

    @PROPERTY
    @given(runs=loss_runs(), bootstrap=st.sampled_from([0, 0, 8]))
    def prop(runs: dict, bootstrap: int) -> None:
        inputs = {"N": runs["N"]} if law == "power" else {"N": runs["N"], "D": runs["D"]}
        result = _result_or_value_error(
            lambda: fitting.fit(law, loss=runs["loss"], bootstrap=bootstrap, seed=0, **inputs)
        )
        outcomes["value error" if result is None else "result"] += 1
        if result is None:
            return
        for name, value in result.params.items():
            _finite_or_warned(value, result, f"params[{name}]")
        prediction = _result_or_value_error(lambda: result.predict(**inputs))
        if prediction is not None:
            _estimate_ok(prediction, result, "predict()")
        restored = fitting.load_fit(result.to_dict())  # what the service stores and reads back
        assert restored.params.keys() == result.params.keys()

    _check(prop, outcomes, least=5)


@st.composite
def sweeps(draw, law: str) -> dict[str, np.ndarray]:
    """Sweeps of the law's hyperparameter at 1-6 (N, D) scales of 1-8 settings each: a bowl in its log
    around an optimum that moves with N (the grid centred near it), or degenerate columns."""
    scales, per = draw(count(1, 6)), draw(count(1, 8))
    n = scales * per
    if not draw(PLAUSIBLE):  # any columns of one length
        return {name: draw(column(n)) for name in ("N", "D", "lr", "batch", "loss")}
    N = np.repeat(draw(column(scales, [(6, 9)] * 3 + [(-30, 30), (290, 300)])), per)
    D = np.repeat(draw(column(scales, [(8, 11)] * 3 + [(-30, 30), (290, 300)])), per)
    with np.errstate(all="ignore"):  # N may be any column; then so is the grid
        centre = float(np.median(np.log(np.abs(N)))) * -0.3 + 1.0  # ln of the optimum, mid-scale
    width = draw(st.floats(2.5, 4.5))
    grid = np.exp(centre + np.linspace(-width, width, per))
    swept = np.tile(grid if draw(PLAUSIBLE) else draw(column(per)), scales)
    other = np.full(n, draw(st.sampled_from([3e-3, 2.5e5])))
    lr, batch = (swept, other) if law == "lr_opt" else (other, swept)
    if draw(PLAUSIBLE):  # the bowl, with noise
        noise = np.array(draw(st.lists(st.floats(-0.01, 0.01), min_size=n, max_size=n)))
        with np.errstate(all="ignore"):
            loss = 2.0 + 0.1 * (np.log(swept) - (np.log(N) * -0.3 + 1.0)) ** 2 + noise
        loss = np.where(np.isfinite(loss) & (loss > 0), loss, 3.0)
    else:
        loss = draw(column(n, [(-1, 1), (-30, 30)]))
    return {"N": N, "D": D, "lr": lr, "batch": batch, "loss": loss}


@pytest.mark.parametrize("law", ["lr_opt", "batch_opt"])
def test_optimum_fit_gives_a_result_or_a_value_error(law: str) -> None:
    outcomes: Counter = Counter()

    @PROPERTY
    @given(
        data=sweeps(law),
        form=st.sampled_from(["auto", "steplaw", "deepseek"]),
        method=st.sampled_from(["quadratic", "band"]),
        bootstrap=st.sampled_from([0, 5]),
    )
    def prop(data: dict, form: str, method: str, bootstrap: int) -> None:
        result = _result_or_value_error(
            lambda: fitting.fit(
                law,
                loss=data["loss"],
                N=data["N"],
                D=data["D"],
                lr=data["lr"],
                batch=data["batch"],
                form=form,
                method=method,
                bootstrap=bootstrap,
                seed=0,
            )
        )
        outcomes["value error" if result is None else "result"] += 1
        if result is None:
            return
        for name, value in result.params.items():
            _finite_or_warned(value, result, f"params[{name}]")
        prediction = _result_or_value_error(lambda: result.predict(N=data["N"], D=data["D"]))
        if prediction is not None:
            _estimate_ok(prediction, result, "predict()")
        assert fitting.load_fit(result.to_dict()).params.keys() == result.params.keys()

    _check(prop, outcomes, least=3)


@st.composite
def isoflop_profiles(draw) -> dict[str, np.ndarray]:
    """Runs at 1-6 compute budgets of 1-8 model sizes each: a bowl of loss in log N around
    N_opt = sqrt(C / 120) with the sizes around it, or degenerate columns."""
    budgets, per = draw(count(1, 6)), draw(count(1, 8))
    n = budgets * per
    if not draw(PLAUSIBLE):
        return {"compute": draw(column(n)), "N": draw(column(n)), "loss": draw(column(n))}
    compute = np.repeat(draw(column(budgets, [(15, 20), (15, 20), (-30, 30), (290, 300)])), per)
    width = draw(st.floats(0.5, 1.5))
    with np.errstate(all="ignore"):
        grid = np.sqrt(compute / 120) * 10.0 ** np.tile(np.linspace(-width, width, per), budgets)
    N = grid if draw(PLAUSIBLE) and np.isfinite(grid).all() else draw(column(n))
    if draw(PLAUSIBLE):
        noise = np.array(draw(st.lists(st.floats(-0.005, 0.005), min_size=n, max_size=n)))
        with np.errstate(all="ignore"):
            loss = 2.0 + 0.05 * (np.log(np.abs(N)) - 0.5 * np.log(np.abs(compute) / 120)) ** 2 + noise
        loss = np.where(np.isfinite(loss) & (loss > 0), loss, 3.0)
    else:
        loss = draw(column(n, [(-1, 1), (-30, 30)]))
    return {"compute": compute, "N": N, "loss": loss}


def test_isoflop_frontier_gives_a_result_or_a_value_error() -> None:
    outcomes: Counter = Counter()

    @PROPERTY
    @given(data=isoflop_profiles(), bootstrap=st.sampled_from([0, 8]))
    def prop(data: dict, bootstrap: int) -> None:
        result = _result_or_value_error(
            lambda: fitting.isoflop_frontier(
                compute=data["compute"], N=data["N"], loss=data["loss"], bootstrap=bootstrap, seed=0
            )
        )
        outcomes["value error" if result is None else "result"] += 1
        if result is None:
            return
        for name in ("exponent_n", "exponent_d", "coef_n", "coef_d"):
            _estimate_ok(getattr(result, name), result, name)
        prediction = _result_or_value_error(lambda: result.predict(np.unique(data["compute"])))
        if prediction is not None:
            n_opt, d_opt = prediction
            _estimate_ok(n_opt, result, "predict() N_opt")
            _estimate_ok(d_opt, result, "predict() D_opt")
        assert fitting.load_fit(result.to_dict()).approach == 2

    _check(prop, outcomes, least=3)


@st.composite
def batch_targets(draw) -> dict[str, np.ndarray]:
    """Steps to 1-6 target losses at 1-8 batch sizes: S = S_min (1 + B_crit / B) with B_crit = 1e4 / L^2
    and batch sizes around it, or degenerate columns."""
    targets, per = draw(count(1, 6)), draw(count(1, 8))
    n = targets * per
    if not draw(PLAUSIBLE):
        return {name: draw(column(n)) for name in ("batch", "steps", "target_loss")}
    target = np.repeat(draw(column(targets, [(0, 1), (0, 1), (-30, 30), (290, 300)])), per)
    with np.errstate(all="ignore"):
        centre = float(1e4 / np.median(target) ** 2)
    grid = centre * 10.0 ** np.linspace(-1.5, 1.5, per) if np.isfinite(centre) and centre > 0 else None
    batch = np.tile(grid if grid is not None and draw(PLAUSIBLE) else draw(column(per)), targets)
    if draw(PLAUSIBLE):
        noise = np.array(draw(st.lists(st.floats(-0.02, 0.02), min_size=n, max_size=n)))
        with np.errstate(all="ignore"):
            steps = 1e3 / target * (1 + 1e4 / target**2 / batch) * np.exp(noise)
        steps = np.where(np.isfinite(steps) & (steps > 0), steps, 1.0)
    else:
        steps = draw(column(n, [(0, 8), (-30, 30), (290, 300)]))
    return {"batch": batch, "steps": steps, "target_loss": target}


def test_critical_batch_curve_gives_a_result_or_a_value_error() -> None:
    outcomes: Counter = Counter()

    @PROPERTY
    @given(data=batch_targets(), bootstrap=st.sampled_from([0, 8]))
    def prop(data: dict, bootstrap: int) -> None:
        result = _result_or_value_error(
            lambda: fitting.critical_batch_curve(
                batch=data["batch"],
                steps=data["steps"],
                target_loss=data["target_loss"],
                bootstrap=bootstrap,
                seed=0,
            )
        )
        outcomes["value error" if result is None else "result"] += 1
        if result is None:
            return
        _estimate_ok(result.b_star, result, "b_star")
        _estimate_ok(result.alpha_b, result, "alpha_b")
        for target in np.unique(data["target_loss"]):
            estimate = _result_or_value_error(lambda target=target: result.b_crit(float(target)))
            if estimate is not None:
                _estimate_ok(estimate, result, f"b_crit({target})")
        assert fitting.load_fit(result.to_dict()).to_dict().keys() == result.to_dict().keys()

    _check(prop, outcomes, least=3)
