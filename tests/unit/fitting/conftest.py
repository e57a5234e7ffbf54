"""Shared fixtures for the fitting tests: the published Chinchilla data and synthetic laws."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A file of ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"published reference data not found at {path} (../shared is not beside the checkout)")
    return path


@pytest.fixture(scope="session")
def chinchilla_points() -> dict[str, np.ndarray]:
    """Epoch AI's 240 Chinchilla Fig. 4 points, outliers dropped as the replication did."""
    with shared_path("chinchilla_epoch", "chinchilla_fig4_points.csv").open() as handle:
        rows = [row for row in csv.DictReader(handle) if row["epoch_outlier_excluded"] == "0"]
    return {
        "N": np.array([float(r["N_params"]) for r in rows]),
        "D": np.array([float(r["D_tokens"]) for r in rows]),
        "C": np.array([float(r["C_flops"]) for r in rows]),
        "loss": np.array([float(r["loss"]) for r in rows]),
    }


@pytest.fixture(scope="session")
def chinchilla_reference() -> dict:
    """The published numbers of reference_fits.json."""
    return json.loads(shared_path("chinchilla_epoch", "reference_fits.json").read_text())


CHINCHILLA_TRUTH = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def chinchilla_design() -> tuple[np.ndarray, np.ndarray]:
    """80 runs: 10 sizes from 1e7 to 3e9 parameters, 8 token budgets from 1 to 300 tokens/param."""
    n_params = np.repeat(np.logspace(7, 9.5, 10), 8)
    return n_params, n_params * np.tile(np.logspace(0, 2.5, 8), 10)


def chinchilla_sample(rng: np.random.Generator, sigma: float = 0.01) -> tuple[np.ndarray, ...]:
    """Losses from CHINCHILLA_TRUTH with multiplicative log-normal noise of scale sigma."""
    n_params, tokens = chinchilla_design()
    t = CHINCHILLA_TRUTH
    loss = t["E"] + t["A"] / n_params ** t["alpha"] + t["B"] / tokens ** t["beta"]
    return n_params, tokens, loss * np.exp(rng.normal(0.0, sigma, loss.size))
