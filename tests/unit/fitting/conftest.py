"""Shared fixtures for the fitting tests: the published Chinchilla data (the synthetic laws are in fitting.synthetic)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CHINCHILLA_CSV


@pytest.fixture(scope="session")
def chinchilla_points() -> dict[str, np.ndarray]:
    """Epoch AI's 240 Chinchilla Fig. 4 points (the package's copy), outliers dropped as the
    replication did."""
    with CHINCHILLA_CSV.open() as handle:
        rows = [row for row in csv.DictReader(handle) if row["epoch_outlier_excluded"] == "0"]
    return {
        "N": np.array([float(r["N_params"]) for r in rows]),
        "D": np.array([float(r["D_tokens"]) for r in rows]),
        "C": np.array([float(r["C_flops"]) for r in rows]),
        "loss": np.array([float(r["loss"]) for r in rows]),
    }


@pytest.fixture(scope="session")
def chinchilla_reference(shared_data: Path) -> dict:
    """The published numbers of reference_fits.json (only in ../shared/data)."""
    return json.loads((shared_data / "chinchilla_epoch" / "reference_fits.json").read_text())
