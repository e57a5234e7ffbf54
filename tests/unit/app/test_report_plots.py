"""Each law kind draws its own report plots from a stored fit and its runs (no database): the loss
law against N, D and compute with 95% bands and the region past the largest fitted run shaded and
labelled as extrapolation, residuals and bootstrap histograms; the optimum laws' power law and
sweeps; the critical batch size against loss and its trade-offs; the frontier and its IsoFLOP
profiles. Every figure renders to a non-blank PNG, and each kind's fitted values are the law's
predictions with residuals that equal observed minus fitted."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.image import imread

import fitting
from app.db.tables import Fit, Run
from app.law_kinds.critical_batch import CRITICAL_BATCH as CRITICAL_BATCH_KIND
from app.law_kinds.critical_batch import RunCurve
from app.law_kinds.frontier import FRONTIER as FRONTIER_KIND
from app.law_kinds.loss import LossKind
from app.law_kinds.optimum import BATCH_OPT, LR_OPT
from tests.integration.step_law_data import curve_points, sweep_rows
from tests.integration.test_frontier_fits import A_TRUE, G, chinchilla
from tests.integration.test_predict_laws import ALPHA_B, B_STAR


def rendered(figure) -> np.ndarray:
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return imread(io.BytesIO(out.getvalue()), format="png")


def not_blank(figure) -> bool:
    pixels = rendered(figure)
    return pixels.shape[0] > 200 and float(pixels[..., :3].std()) > 0.05


LOSS_KIND = LossKind()
OPTIMUM_KINDS = (LR_OPT, BATCH_OPT)


def extrapolation_span(ax) -> tuple[float, float]:
    """The x-extent of the shaded extrapolation region of `ax` (an axvspan labelled so)."""
    for patch in ax.patches:
        if (patch.get_label() or "").startswith("extrapolation"):
            return float(patch.get_x()), float(patch.get_x() + patch.get_width())
    raise AssertionError("no extrapolation span")


def texts(figure) -> list[str]:
    return [t.get_text() for ax in figure.axes for t in ax.texts]


@pytest.fixture(scope="module")
def loss_fit():
    rng = np.random.default_rng(0)
    runs = [
        Run(
            id=i,
            n_params=n,
            tokens=d,
            loss=float(chinchilla(n, d)) * math.exp(rng.normal(0, 0.003)),
            status="done",
        )
        for i, (n, d) in enumerate((n, d) for n in (1e7, 3e7, 1e8, 3e8) for d in (1e9, 3e9, 1e10))
    ]
    fit = fitting.fit(
        "chinchilla",
        N=[r.n_params for r in runs],
        D=[r.tokens for r in runs],
        loss=[r.loss for r in runs],
        bootstrap=60,
        seed=0,
    )
    return fit, runs


def test_loss_law_plots_with_bands_and_labelled_extrapolation(loss_fit):
    fit, runs = loss_fit
    plots = LOSS_KIND.plots(Fit(id=1, law="chinchilla"), fit, runs)
    assert [p.title for p in plots] == [
        "Loss against parameters N",
        "Loss against training tokens D",
        "Loss against compute",
        "Residuals",
        "Bootstrap distributions",
    ]
    against_n = plots[0].figure.axes[0]
    # One law curve per D of the grid, each with its 95% band, and the extrapolation beyond N = 3e8.
    assert {line.get_label() for line in against_n.lines} >= {
        "law at D = 1e+09",
        "law at D = 3e+09",
        "law at D = 1e+10",
    }
    assert sum(isinstance(c, PolyCollection) for c in against_n.collections) >= 3
    low, high = extrapolation_span(against_n)
    assert low == pytest.approx(3e8) and high == pytest.approx(3e9)
    assert any(t.startswith(" extrapolation: beyond the largest fitted N") for t in texts(plots[0].figure))
    # Against compute: the extrapolation starts at the largest run's 6ND.
    assert extrapolation_span(plots[2].figure.axes[0])[0] == pytest.approx(6 * 3e8 * 1e10)
    # The bootstrap panels' titles carry each parameter with its 95% interval.
    titles = [ax.get_title() for ax in plots[4].figure.axes if ax.get_visible()]
    lo, hi = fit.ci(0.95)["alpha"]
    assert f"alpha = {fit.params['alpha']:.3g} [{lo:.3g}, {hi:.3g}]" in titles
    for plot in plots:
        assert not_blank(plot.figure), plot.title
        assert plot.caption


def test_loss_fitted_values_are_predictions_and_residuals(loss_fit):
    fit, runs = loss_fit
    rows = LOSS_KIND.fitted_values(Fit(id=1, law="chinchilla"), fit, runs)
    assert [r["run_id"] for r in rows] == [r.id for r in runs]
    for row, run in zip(rows, runs, strict=True):
        fitted = fit.predict(N=run.n_params, D=run.tokens)
        assert row["fitted"] == pytest.approx(fitted.value, rel=1e-12)
        assert row["fitted_lo"] == pytest.approx(fitted.lo) and row["fitted_hi"] == pytest.approx(fitted.hi)
        assert row["residual"] == run.loss - row["fitted"]
        assert row["log_residual"] == pytest.approx(math.log(run.loss / row["fitted"]))
        assert row["compute"] == pytest.approx(6 * run.n_params * run.tokens)


def test_power_law_of_compute_draws_one_law():
    rng = np.random.default_rng(1)
    runs = [
        Run(
            id=i,
            n_params=n,
            tokens=20 * n,
            loss=float(chinchilla(n, 20 * n)) * math.exp(rng.normal(0, 0.002)),
        )
        for i, n in enumerate(np.geomspace(1e7, 1e9, 8))
    ]
    compute = fitting.training_compute([r.n_params for r in runs], [r.tokens for r in runs])
    fit = fitting.fit("power", C=compute.tolist(), loss=[r.loss for r in runs], bootstrap=30, seed=0)
    plots = LOSS_KIND.plots(Fit(id=2, law="power"), fit, runs)
    assert [p.title for p in plots] == ["Loss against C", "Residuals", "Bootstrap distributions"]
    assert extrapolation_span(plots[0].figure.axes[0])[0] == pytest.approx(compute.max())
    rows = LOSS_KIND.fitted_values(Fit(id=2, law="power"), fit, runs)
    assert rows[3]["fitted"] == pytest.approx(fit.predict(C=compute[3]).value)


@pytest.mark.parametrize("kind", OPTIMUM_KINDS, ids=lambda k: k.name)
def test_optimum_laws_plot_the_law_and_every_sweep(kind):
    rows = sweep_rows(np.random.default_rng(0))
    runs = [
        Run(
            id=i,
            n_params=r["N"],
            tokens=r["D"],
            loss=r["loss"],
            lr=r["lr"],
            batch_tokens=r["batch"],
            status="done",
        )
        for i, r in enumerate(rows)
    ]
    fit = fitting.fit(
        kind.name,
        loss=[r.loss for r in runs],
        N=[r.n_params for r in runs],
        D=[r.tokens for r in runs],
        batch=[r.batch_tokens for r in runs],
        **({"lr": [r.lr for r in runs], "form": "steplaw"} if kind.name == "lr_opt" else {}),
        bootstrap=30,
        seed=0,
    )
    plots = kind.plots(Fit(id=3, law=kind.name), fit, runs)
    swept = "learning rate" if kind.name == "lr_opt" else "batch size, tokens"
    assert [p.title for p in plots] == [f"Power law of the optimal {swept}", f"Sweeps of the {swept}"]
    law_axes = plots[0].figure.axes[0]
    assert extrapolation_span(law_axes)[0] == pytest.approx(max(o.C for o in fit.optima))
    # Six sweeps, one panel each, titled by their (N, D).
    panels = [ax for ax in plots[1].figure.axes if ax.get_title().startswith("N=")]
    assert len(panels) == len(fit.optima) == 6
    for plot in plots:
        assert not_blank(plot.figure)
    fitted = kind.fitted_values(Fit(id=3, law=kind.name), fit, runs)
    first = fitted[0]
    sweep = kind.sweep_of(fit, runs[0])
    located = kind.located(sweep)
    assert first["sweep_optimum"] == pytest.approx(located.value)
    assert first["sweep_located_by"] == sweep.located_by and sweep.located_by in ("quadratic", "cubic")
    law = fit.predict(N=runs[0].n_params, D=runs[0].tokens)
    assert first["fitted"] == pytest.approx(law.value)
    assert first["log_residual"] == pytest.approx(math.log(located.value / law.value))


def test_critical_batch_plots_b_crit_against_loss_and_the_tradeoffs():
    rng = np.random.default_rng(0)
    batches = [2.5e4, 7e4, 2e5, 6e5, 1.8e6]
    runs, curves = [], []
    for i, batch in enumerate(batches):
        points = curve_points(batch, rng, b_star=B_STAR, alpha_b=ALPHA_B)

        def column(name, points=points):
            return np.array([np.nan if p[name] is None else p[name] for p in points], dtype=float)

        runs.append(Run(id=i, n_params=1e6, tokens=1e9, loss=2.05, batch_tokens=batch, status="done"))
        curves.append(
            RunCurve(
                i,
                1e6,
                batch,
                1e9,
                column("step"),
                column("train_loss"),
                column("eval_loss"),
                column("noise_scale"),
            )
        )
    fitted = CRITICAL_BATCH_KIND.fit(curves, law="critical_batch", options={}, bootstrap=40, seed=0)
    row = Fit(id=4, law="critical_batch", result=fitted.stored, status="done")
    curve = CRITICAL_BATCH_KIND.restore(fitted.stored)
    plots = CRITICAL_BATCH_KIND.plots(row, curve, runs)
    assert [p.title for p in plots] == [
        "Critical batch size against loss",
        "Steps-examples trade-off per target loss",
    ]
    ax = plots[0].figure.axes[0]
    low = curve.loss_range[0]
    assert extrapolation_span(ax)[1] == pytest.approx(low)
    assert ax.get_title().startswith(f"B* = {curve.b_star.value:.3g} [")
    labels = {text for text in ax.get_legend_handles_labels()[1]}
    assert "noise scale B_simple near that loss (median, min-max)" in labels
    for plot in plots:
        assert not_blank(plot.figure)
    fitted_rows = CRITICAL_BATCH_KIND.fitted_values(row, curve, runs)
    assert fitted_rows[0]["fitted_b_crit"] == pytest.approx(curve.b_crit(2.05).value)


def test_frontier_plots_n_opt_with_its_interval_and_isoflop_profiles():
    rng = np.random.default_rng(0)
    runs = []
    for budget in np.logspace(18, 18 + 4 * np.log10(4), 5):
        for n_params in G * (budget / 6) ** A_TRUE * np.exp(np.linspace(-1.8, 1.8, 7)):
            tokens = np.floor(budget / (6 * n_params) / 2048) * 2048
            loss = float(chinchilla(n_params, tokens)) * math.exp(rng.normal(0, 0.002))
            runs.append(
                Run(id=len(runs), n_params=float(n_params), tokens=float(tokens), loss=loss, status="done")
            )
    fitted = FRONTIER_KIND.fit(runs, law="frontier_isoflop", options={}, bootstrap=60, seed=0)
    row = Fit(id=5, law="frontier_isoflop", result=fitted.stored, status="done")
    frontier = FRONTIER_KIND.restore(fitted.stored)
    plots = FRONTIER_KIND.plots(row, frontier, runs)
    assert [p.title for p in plots] == ["Compute-optimal N and D", "IsoFLOP profiles"]
    n_axes = plots[0].figure.axes[0]
    assert n_axes.get_title().startswith(f"a = {frontier.exponent_n.value:.3g} [")
    assert extrapolation_span(n_axes)[0] == pytest.approx(frontier.compute_range[1])
    assert len([line for line in plots[1].figure.axes[0].lines if line.get_label().startswith("C = ")]) == 5
    for plot in plots:
        assert not_blank(plot.figure)
    fitted_rows = FRONTIER_KIND.fitted_values(row, frontier, runs)
    found = [r for r in fitted_rows if r["budget_n_opt"] is not None]
    assert len(found) == len(runs)  # every budget has an interior optimum in this design
    assert {r["budget_located_by"] for r in found} == {"quadratic"}  # 7 runs a budget: the bowl
    assert fitted.stored["located_by"] == {"quadratic": 5}
    for r in found:
        assert r["log_residual"] == pytest.approx(math.log(r["budget_n_opt"] / r["fitted_n_opt"]))
