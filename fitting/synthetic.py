"""Known laws sampled with seeded noise: for recovery tests, benchmarks, and for users checking a
fit (does the method recover this law, and do its intervals cover it at their nominal rate?)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fitting.entry import fit
from fitting.laws.base import Array

# A Chinchilla-like law: exponents near Hoffmann et al. 2022's (alpha 0.34, beta 0.28) and the
# Epoch replication's (0.35, 0.37), an irreducible loss of 1.8 nats.
CHINCHILLA_TRUTH: dict[str, float] = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def chinchilla_design() -> tuple[Array, Array]:
    """80 runs: 10 sizes from 1e7 to 3e9 parameters, 8 token budgets from 1 to 300 tokens/param."""
    n_params = np.repeat(np.logspace(7, 9.5, 10), 8)
    return n_params, n_params * np.tile(np.logspace(0, 2.5, 8), 10)


def chinchilla_sample(rng: np.random.Generator, sigma: float = 0.01) -> tuple[Array, Array, Array]:
    """N, D and losses of chinchilla_design() from CHINCHILLA_TRUTH, L = E + A/N^alpha + B/D^beta
    (Hoffmann et al. 2022, eq. 2), with multiplicative log-normal noise of scale sigma."""
    n_params, tokens = chinchilla_design()
    truth = CHINCHILLA_TRUTH
    loss = truth["E"] + truth["A"] / n_params ** truth["alpha"] + truth["B"] / tokens ** truth["beta"]
    return n_params, tokens, loss * np.exp(rng.normal(0.0, sigma, loss.size))


def coverage_trials(
    rng: np.random.Generator,
    trials: int,
    draw: Callable[[np.random.Generator], tuple[Array, ...]] = chinchilla_sample,
    truth: dict[str, float] = CHINCHILLA_TRUTH,
    law: str = "chinchilla",
) -> tuple[dict[str, int], dict[str, list[float]], dict[str, list[float]]]:
    """Fit `law` to `trials` datasets from `draw` (N, D, loss) with 200 bootstrap replicates each:
    per parameter, how many 95% intervals cover `truth`, their widths, and the point estimates."""
    covered = {k: 0 for k in truth}
    widths: dict[str, list[float]] = {k: [] for k in truth}
    estimates: dict[str, list[float]] = {k: [] for k in truth}
    for trial in range(trials):
        n_params, tokens, loss = draw(rng)
        result = fit(law, N=n_params, D=tokens, loss=loss, bootstrap=200, seed=trial, holdout_fraction=0)
        for name, (lo, hi) in result.ci(0.95).items():
            covered[name] += lo <= truth[name] <= hi
            widths[name].append(hi - lo)
            estimates[name].append(result.params[name])
    return covered, widths, estimates
