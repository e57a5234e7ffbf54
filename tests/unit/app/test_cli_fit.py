"""`hyperlaw fit` and `hyperlaw demo` as a user runs them: a real subprocess, JSON on stdout,
one-line errors with exit code 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HYPERLAW = [sys.executable, "-m", "app.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HYPERLAW, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture()
def runs_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n_params = np.repeat(np.logspace(7, 9, 6), 5)
    tokens = n_params * np.tile([2.0, 5.0, 10.0, 30.0, 100.0], 6)
    loss = (1.9 + 450 / n_params**0.34 + 2000 / tokens**0.36) * np.exp(rng.normal(0, 0.003, n_params.size))
    path = tmp_path / "runs.csv"
    lines = ["params,flops,final_loss"] + [
        f"{n},{6 * n * d},{value}" for n, d, value in zip(n_params, tokens, loss, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fit_prints_one_json_object(runs_csv: Path):
    result = run(
        "fit",
        "--law",
        "chinchilla",
        "--csv",
        str(runs_csv),
        "--n-col",
        "params",
        "--c-col",
        "flops",
        "--loss-col",
        "final_loss",
        "--bootstrap",
        "100",
        "--seed",
        "0",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert {"law", "params", "ci95", "objective", "n_points", "warnings"} <= set(payload)
    assert payload["n_points"] == 30
    assert payload["params"]["alpha"] == pytest.approx(0.34, abs=0.05)
    lo, hi = payload["ci95"]["alpha"]
    assert lo < payload["params"]["alpha"] < hi


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--law", "nope"], "unknown law 'nope'"),
        ([], "has no column 'N', 'loss', 'D'; its columns are 'params', 'flops', 'final_loss'"),
        (
            ["--n-col", "params", "--c-col", "flops", "--loss-col", "params", "--bootstrap", "-3"],
            "bootstrap must be",
        ),
    ],
)
def test_fit_errors_are_one_line_with_exit_code_2(runs_csv: Path, args: list[str], message: str):
    result = run("fit", "--csv", str(runs_csv), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_fit_of_a_missing_file(tmp_path: Path):
    result = run("fit", "--csv", str(tmp_path / "absent.csv"))
    assert result.returncode == 2 and "cannot read" in result.stderr and "Traceback" not in result.stderr


def test_fit_of_a_non_numeric_cell(tmp_path: Path):
    path = tmp_path / "bad.csv"
    path.write_text("N,D,loss\n1e8,2e9,3.1\n1e9,abc,2.9\n")
    result = run("fit", "--csv", str(path))
    assert result.returncode == 2
    assert "line 3, column 'D': 'abc' is not a number" in result.stderr


@pytest.mark.slow
@pytest.mark.data
def test_demo_reproduces_the_published_fit():
    result = run("demo", "--published", "--bootstrap", "200")
    assert result.returncode == 0, result.stderr
    assert "objective 0.00101827" in result.stdout
    assert "0.3473" in result.stdout and "0.3672" in result.stdout
