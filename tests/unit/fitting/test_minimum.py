"""fitting.minimum(law) is the least data each fitting function accepts: for every law kind, data of
exactly that size is fitted, and one run fewer (or one group fewer) is refused with a ValueError."""

from __future__ import annotations

import numpy as np
import pytest

import fitting
from fitting import critical_batch_curve, envelope_frontier, isoflop_frontier
from fitting.synthetic import CHINCHILLA_TRUTH as TRUTH


def chinchilla_loss(n_params: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """L = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022, eq. 2) at TRUTH."""
    return TRUTH["E"] + TRUTH["A"] / n_params ** TRUTH["alpha"] + TRUTH["B"] / tokens ** TRUTH["beta"]


# --- loss laws: runs in all ---------------------------------------------------------------


def loss_runs(count: int) -> dict[str, np.ndarray]:
    """`count` runs at distinct N and D, with a little seeded noise."""
    n_params = np.logspace(7, 9.5, count)
    tokens = n_params * np.logspace(2.5, 0.5, count)[np.random.default_rng(0).permutation(count)]
    noise = np.exp(np.random.default_rng(1).normal(0.0, 0.002, count))
    return {"N": n_params, "D": tokens, "loss": chinchilla_loss(n_params, tokens) * noise}


@pytest.mark.parametrize("law", ["chinchilla", "chinchilla_equal", "kaplan", "auto"])
def test_loss_laws_of_n_and_d_accept_exactly_their_minimum(law):
    needed = fitting.minimum(law).runs
    fit = fitting.fit(law, **loss_runs(needed), bootstrap=0)
    assert fit.n_points == needed
    with pytest.raises(ValueError, match=f"needs at least {needed} runs"):
        fitting.fit(law, **loss_runs(needed - 1), bootstrap=0)


def test_minimum_of_the_loss_laws_is_parameters_plus_two():
    assert fitting.minimum("chinchilla") == fitting.Minimum(runs=7)
    assert fitting.minimum("auto").runs == 7  # "auto" also fits chinchilla
    assert fitting.minimum("kaplan").runs == fitting.minimum("chinchilla_equal").runs == 6
    assert fitting.minimum("power").runs == 5


def test_power_law_accepts_exactly_its_minimum():
    needed = fitting.minimum("power").runs
    x = np.logspace(6, 10, needed)
    fitting.fit("power", N=x, loss=1.7 + 40.0 * x**-0.2, bootstrap=0)
    with pytest.raises(ValueError, match=f"needs at least {needed} runs"):
        fitting.fit("power", N=x[:-1], loss=(1.7 + 40.0 * x**-0.2)[:-1], bootstrap=0)


# --- lr_opt / batch_opt: sweeps of runs over distinct values -------------------------------------

SCALES = [(1e7, 2e9), (3e7, 2e9), (3e7, 1e10), (1e8, 4e9), (3e8, 2e10)]  # (N, D), not on one line in log


def sweeps(law: str, groups: int, runs_per_group: int, short: int | None = None) -> dict[str, np.ndarray]:
    """`groups` sweeps of `runs_per_group` runs each (sweep `short` one run fewer): loss a bowl in log
    LR (or log B) around the Step Law optimum (Li et al. 2025), so every optimum is interior."""
    rows: dict[str, list[float]] = {"N": [], "D": [], "lr": [], "batch": [], "loss": []}
    for g, (n_params, tokens) in enumerate(SCALES[:groups]):
        count = runs_per_group - (g == short)
        offsets = np.linspace(-2.5, 2.5, runs_per_group)[:count] * np.log(2.0)
        lr_opt = 1.79 * n_params**-0.713 * tokens**0.307
        batch_opt = 0.58 * tokens**0.571
        swept = lr_opt if law == "lr_opt" else batch_opt
        rows["N"] += [n_params] * count
        rows["D"] += [tokens] * count
        rows["lr"] += list(swept * np.exp(offsets)) if law == "lr_opt" else [lr_opt] * count
        rows["batch"] += list(swept * np.exp(offsets)) if law == "batch_opt" else [batch_opt] * count
        rows["loss"] += list(chinchilla_loss(n_params, tokens) * np.exp(0.01 * (offsets + 0.1) ** 2))
    return {k: np.array(v) for k, v in rows.items()}


@pytest.mark.parametrize(
    ("law", "form"),
    [("lr_opt", "auto"), ("lr_opt", "steplaw"), ("lr_opt", "deepseek"), ("batch_opt", "auto")],
)
def test_optimum_laws_accept_exactly_their_minimum(law, form):
    least = fitting.minimum(law, form)
    assert least.runs == least.groups * least.runs_per_group
    assert least.values_per_group <= least.runs_per_group
    fit = fitting.fit(law, **sweeps(law, least.groups, least.runs_per_group), form=form, bootstrap=0)
    assert len(fit.optima) == least.groups and all(o.status == "found" for o in fit.optima)
    with pytest.raises(ValueError, match=f"needs at least {least.groups}"):
        fitting.fit(law, **sweeps(law, least.groups - 1, least.runs_per_group), form=form, bootstrap=0)
    short = sweeps(law, least.groups, least.runs_per_group, short=0)
    with pytest.raises(ValueError, match=f"needs at least {least.groups}"):
        fitting.fit(law, **short, form=form, bootstrap=0)


def test_optimum_minimum_defaults_to_auto_and_knows_its_forms():
    assert fitting.minimum("lr_opt") == fitting.minimum("lr_opt", "auto")
    assert fitting.minimum("lr_opt", "auto").groups == 4  # Step Law LR = a N^b D^c: 3 parameters + 1
    assert fitting.minimum("batch_opt", "steplaw").groups == 3
    with pytest.raises(ValueError, match="form must be one of"):
        fitting.minimum("lr_opt", "cubic")
    with pytest.raises(ValueError, match="form is for"):
        fitting.minimum("chinchilla", "steplaw")
    with pytest.raises(ValueError, match="chinchilla.*frontier_envelope"):
        fitting.minimum("chinchila")


# --- critical batch: batch sizes, each reaching every target --------------------------------------


def tradeoff_rows(batch_sizes: int, targets: int) -> dict[str, list[float]]:
    """S = S_min (1 + B_crit/B) (McCandlish et al. 2018, eq. 2.11) with B_crit = B*/L^(1/alpha_B)
    (Kaplan et al. 2020, eq. 5.1) inside the batch sizes tried."""
    rows: dict[str, list[float]] = {"batch": [], "steps": [], "target_loss": []}
    batches = np.array([1e5, 1e6, 1e7])[:batch_sizes]
    for loss in np.linspace(3.0, 4.0, targets):
        b_crit = 3e8 / loss ** (1 / 0.21)
        rows["batch"] += list(batches)
        rows["steps"] += list(1e4 * loss**-6 * (1 + b_crit / batches))
        rows["target_loss"] += [loss] * batches.size
    return rows


def test_critical_batch_curve_accepts_exactly_its_minimum():
    least = fitting.minimum("critical_batch")
    rows = tradeoff_rows(least.groups, least.runs_per_group)
    assert len(rows["batch"]) == least.runs
    curve = critical_batch_curve(**rows, bootstrap=0)
    assert len(curve.per_target) == least.runs_per_group
    with pytest.raises(ValueError, match=f"{least.groups} or more batch sizes"):
        critical_batch_curve(**tradeoff_rows(least.groups - 1, least.runs_per_group), bootstrap=0)
    with pytest.raises(ValueError, match=f"{least.runs_per_group} or more targets"):
        critical_batch_curve(**tradeoff_rows(least.groups, least.runs_per_group - 1), bootstrap=0)
    one_fewer = {k: v[1:] for k, v in rows.items()}
    with pytest.raises(ValueError, match="batch sizes"):
        critical_batch_curve(**one_fewer, bootstrap=0)


# --- frontiers: budgets of runs, curves of points -----------------------------------------------


def isoflop_runs(budgets: int, runs_per_budget: int, short: int | None = None) -> dict[str, np.ndarray]:
    """Runs of distinct N around each budget's optimum; tokens D = C / 6N."""
    rows: dict[str, list[float]] = {"compute": [], "N": []}
    for b, compute in enumerate(np.logspace(19, 21, budgets)):
        centre = 0.1 * np.sqrt(compute / 6.0)  # near N_opt of TRUTH (a close to 1/2)
        count = runs_per_budget - (b == short)
        rows["N"] += list(centre * np.exp(np.linspace(-2.0, 2.0, runs_per_budget)[:count]))
        rows["compute"] += [compute] * count
    out = {k: np.array(v) for k, v in rows.items()}
    out["loss"] = chinchilla_loss(out["N"], out["compute"] / (6.0 * out["N"]))
    return out


def test_isoflop_frontier_accepts_exactly_its_minimum():
    least = fitting.minimum("frontier_isoflop")
    runs = isoflop_runs(least.groups, least.runs_per_group)
    assert runs["N"].size == least.runs
    frontier = isoflop_frontier(**runs, bootstrap=0)
    assert [o.status for o in frontier.optima] == ["found"] * least.groups
    with pytest.raises(ValueError, match=f"{least.groups} or more budgets"):
        isoflop_frontier(**isoflop_runs(least.groups - 1, least.runs_per_group), bootstrap=0)
    with pytest.raises(ValueError, match=f"only {least.groups - 1} of {least.groups} budgets"):
        isoflop_frontier(**isoflop_runs(least.groups, least.runs_per_group, short=1), bootstrap=0)


def envelope_points(curves: int, points: int, short: int | None = None) -> dict[str, np.ndarray]:
    """Curves of model sizes 1e7, 1e8, 1e9 over the same FLOPs; the middle one lowest throughout."""
    rows: dict[str, list[float]] = {"run": [], "N": [], "tokens": [], "loss": []}
    for r, (n_params, offset) in enumerate([(1e7, 0.2), (1e8, 0.0), (1e9, 0.3)][:curves]):
        flops = np.logspace(18, 19, points)[: points - (r == short)]
        rows["run"] += [r] * flops.size
        rows["N"] += [n_params] * flops.size
        rows["tokens"] += list(flops / (6.0 * n_params))
        rows["loss"] += list(3.0 + offset - 0.1 * np.log10(flops / 1e18))
    return {k: np.array(v) for k, v in rows.items()}


def test_envelope_frontier_accepts_exactly_its_minimum():
    least = fitting.minimum("frontier_envelope")
    points = envelope_points(least.groups, least.runs_per_group)
    assert points["run"].size == least.runs
    frontier = envelope_frontier(**points, bootstrap=0)
    assert frontier.exponent_n.value == pytest.approx(0.0, abs=1e-9)  # the middle size wins everywhere
    with pytest.raises(ValueError, match=f"needs {least.groups} or more runs"):
        envelope_frontier(**envelope_points(least.groups - 1, least.runs_per_group), bootstrap=0)
    with pytest.raises(ValueError, match=f"needs {least.groups} or more runs"):
        envelope_frontier(**envelope_points(least.groups, least.runs_per_group, short=0), bootstrap=0)
