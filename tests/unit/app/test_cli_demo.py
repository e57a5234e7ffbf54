"""`hyperlaw demo`'s designs and `hyperlaw demo --published`, as a user runs it: fast checks (the
training demo itself runs in tests/e2e/test_demo.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import fitting
from app.demo import DESIGNS, LOSS_LAW, LR_LAW, largest_proxy
from app.specs import accounting, validate_spec

HYPERLAW = [sys.executable, "-m", "app.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HYPERLAW, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_each_design_gives_both_laws_the_runs_they_need(name):
    design = DESIGNS[name]
    specs, grid, sweeps = design.runs()
    for spec in specs:
        validate_spec(spec)  # the trainer accepts every run
    # A run shared by the loss grid and a sweep is trained once.
    assert len(specs) == len(set(grid) | set(sweeps)) < len(grid) + len(sweeps)
    assert len(grid) >= fitting.minimum(LOSS_LAW).runs
    least = fitting.minimum(LR_LAW, design.lr_form)
    assert len(sweeps) >= least.runs
    by_scale: dict[tuple[int, int], set[float]] = {}
    for i in sweeps:
        by_scale.setdefault((specs[i]["n_layer"], specs[i]["d_model"]), set()).add(specs[i]["lr"])
    assert len(by_scale) >= least.groups
    assert all(len(lrs) >= max(least.values_per_group, least.runs_per_group) for lrs in by_scale.values())


def test_the_target_is_the_largest_proxy():
    design = DESIGNS["quick"]
    specs, _, _ = design.runs()
    n, d = largest_proxy(design)
    sizes = [accounting(validate_spec(s))["n_params_non_embedding"] for s in specs]
    assert n == max(sizes) and d == max(s["tokens"] for s in specs) == 131_072


def test_published_prints_the_fit_beside_epochs_numbers():
    result = run("demo", "--published", "--bootstrap", "0")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "objective 0.001018274" in out  # Epoch AI's reconstruction, fitted as Hoffmann et al. describe
    for published in ("1.817", "0.3478", "0.3658", "1.769 .. 1.871", "0.317 .. 0.373", "406.4"):
        assert published in out
    assert "0.3473" in out and "0.3672" in out  # ours: alpha and beta
    assert max(len(line) for line in out.splitlines()) <= 80  # readable in an 80-column terminal


def test_quick_and_published_together_are_refused_in_one_line():
    result = run("demo", "--quick", "--published")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "pick one" in result.stderr


def test_a_law_the_runs_cannot_support_is_an_outcome_saying_why(tmp_path):
    from app import demo

    settings, database = demo.open_folder(tmp_path)
    try:
        design = DESIGNS["quick"]
        study = demo.create_study(database, design)
        assert len(study.run_ids) == 27 and len(study.loss_run_ids) == 12 and len(study.lr_run_ids) == 18
        assert len(set(study.loss_run_ids) & set(study.lr_run_ids)) == 3
        queued = demo.progress(database, study.id)
        assert queued.by_status == {"queued": 27} and queued.finished == 0 and queued.tokens_done == 0
        assert queued.tokens_total == sum(s["tokens"] for s in design.runs()[0])
        # Nothing trained: the LR law is refused with the minimum it needs, and nothing is predicted.
        outcome = demo.fit_law(database, settings, study.id, LR_LAW, run_ids=[], bootstrap=0, form="deepseek")
        assert not outcome.ok and outcome.fit_id is None
        least = fitting.minimum(LR_LAW, "deepseek")
        assert (
            f"needs >={least.groups} (N, D) sweeps of >={least.runs_per_group} finished runs" in outcome.error
        )
        assert demo.predict(database, study.id, 1e6, 1e7) is None
        assert demo.create_study(database, design).name == "demo-quick-2"  # a second demo, a new study
    finally:
        database.dispose()
