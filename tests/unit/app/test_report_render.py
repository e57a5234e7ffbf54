"""Report rendering without a database: numbers print as a reader expects (ids whole, large and
small values in exponent form, '-' for missing), CSV cells of numpy values are plain numbers, and a
law kind whose plots fail still gets a report with its numbers and a note saying why the plots are
missing, in HTML and PDF."""

from __future__ import annotations

import numpy as np

from app.db.tables import Fit, Study
from app.reports.content import Report, Section, Verdict
from app.reports.render import PlotCache, bounds, number, to_csv, to_html, to_pdf


class Failing:
    """A law kind whose figures cannot be drawn."""

    name = "failing"

    def plots(self, fit, restored, runs):
        raise RuntimeError("no axes for this law")

    def fitted_values(self, fit, restored, runs):
        return [{"run_id": 7, "fitted": np.float64(2.5), "residual": np.float64(-0.125), "note": None}]


def report() -> Report:
    fit = Fit(
        id=3,
        study_id=1,
        law="failing",
        status="done",
        bootstrap=10,
        seed=0,
        params={"alpha": 0.34},
        ci95={"alpha": [0.3, 0.38]},
        warnings=[],
        run_ids=[7],
        n_points=1,
        result={},
    )
    section = Section(fit, Failing(), object(), [], Verdict("usable"))
    return Report("Fit 3", Study(id=1, name="s"), [section])


def test_numbers_print_for_a_reader():
    assert number(12345) == "12345" and number(np.int64(7)) == "7"
    assert number(2.34567) == "2.346" and number(1.2e20) == "1.200e+20" and number(4.1e-4) == "4.100e-04"
    assert number(None) == "-" and number(float("nan")) == "-" and number("found") == "found"
    assert bounds(0.3, 0.38) == "[0.3, 0.38]" and bounds(None, 1.0) == "-"


def test_failing_plots_leave_the_numbers_and_say_why():
    page = to_html(report())
    assert (
        '<tr data-param="alpha"><td>alpha</td><td class="num">0.34</td><td class="num">[0.3, 0.38]</td></tr>'
        in page
    )
    assert "The plots could not be drawn (RuntimeError: no axes for this law)" in page
    assert "<img" not in page
    assert to_pdf(report()).startswith(b"%PDF-")
    assert to_csv(report()).splitlines() == [
        "fit_id,law,run_id,fitted,residual,note",
        "3,failing,7,2.5,-0.125,",
    ]


def test_the_plot_cache_keeps_no_failed_drawing():
    """A cached empty drawing would drop the note from every later report of the fit."""
    cache = PlotCache()
    for _ in range(2):
        failed = report()
        assert cache.images(failed.sections[0]) == []
        assert "The plots could not be drawn" in to_html(failed, [cache.images(failed.sections[0])])
