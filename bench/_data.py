"""Data the benchmarks share: the embedded Chinchilla example runs (shipped with the package in
app/data; the benchmarks never read ../shared)."""

from __future__ import annotations

from importlib import resources

import numpy as np

from app.cli.demo import load_example_runs

CHINCHILLA_CSV = "data/chinchilla_epoch/chinchilla_fig4_points.csv"


def chinchilla_csv() -> str:
    """The package's copy of Epoch AI's Chinchilla Fig. 4 table, as published (all 245 rows)."""
    return resources.files("app").joinpath(CHINCHILLA_CSV).read_text()


def chinchilla_runs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """N, D, loss of the 240 Chinchilla Fig. 4 runs Epoch AI kept."""
    runs = load_example_runs()
    return runs["N"], runs["D"], runs["loss"]
