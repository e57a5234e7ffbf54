"""Data the benchmarks share: the embedded Chinchilla example runs (shipped with the package)."""

from __future__ import annotations

import numpy as np

from app.cli.demo import load_example_runs


def chinchilla_runs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """N, D, loss of the 240 Chinchilla Fig. 4 runs Epoch AI kept."""
    runs = load_example_runs()
    return runs["N"], runs["D"], runs["loss"]
