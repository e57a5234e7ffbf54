"""Coverage and width of the 95% bootstrap intervals on synthetic Chinchilla data.

For each of --trials datasets drawn from a known law (80 runs, 1% log-normal noise) the law is
fitted with 200 bootstrap replicates. Prints, per parameter, the share of intervals that cover
the truth (target >= 0.90) and the median interval width against the width the spread of the
point estimates across trials calls for (3.92 standard deviations): ratio near 1, not far above.

    python -m bench.fit_coverage [--trials 200]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

import fitting

TRUTH = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def design() -> tuple[np.ndarray, np.ndarray]:
    """80 runs: 10 sizes from 1e7 to 3e9 parameters, 8 token budgets from 1 to 300 tokens/param."""
    n_params = np.repeat(np.logspace(7, 9.5, 10), 8)
    return n_params, n_params * np.tile(np.logspace(0, 2.5, 8), 10)


def sample(rng: np.random.Generator, sigma: float = 0.01) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Losses of `design` from TRUTH with multiplicative log-normal noise of scale sigma."""
    n_params, tokens = design()
    loss = TRUTH["E"] + TRUTH["A"] / n_params ** TRUTH["alpha"] + TRUTH["B"] / tokens ** TRUTH["beta"]
    return n_params, tokens, loss * np.exp(rng.normal(0.0, sigma, loss.size))


def coverage_trials(
    rng: np.random.Generator,
    trials: int,
    draw: Callable[[np.random.Generator], tuple[np.ndarray, ...]] = sample,
    truth: dict[str, float] = TRUTH,
) -> tuple[dict[str, int], dict[str, list[float]], dict[str, list[float]]]:
    """Fit `trials` datasets from `draw` with 200 replicates each: per parameter, how many 95%
    intervals cover `truth`, their widths, and the point estimates."""
    covered = {k: 0 for k in truth}
    widths: dict[str, list[float]] = {k: [] for k in truth}
    estimates: dict[str, list[float]] = {k: [] for k in truth}
    for trial in range(trials):
        n_params, tokens, loss = draw(rng)
        fit = fitting.fit(
            "chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=200, seed=trial, holdout_fraction=0
        )
        for name, (lo, hi) in fit.ci(0.95).items():
            covered[name] += lo <= truth[name] <= hi
            widths[name].append(hi - lo)
            estimates[name].append(fit.params[name])
    return covered, widths, estimates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    started = time.perf_counter()
    covered, widths, estimates = coverage_trials(np.random.default_rng(2026), args.trials)
    elapsed = time.perf_counter() - started
    for name in TRUTH:
        needed = 3.92 * float(np.std(estimates[name]))
        median = float(np.median(widths[name]))
        print(
            f"fit_coverage_{name}: ratio={median / needed:.2f} (ours median width {median:.4g} / baseline "
            f"3.92 sd of estimates {needed:.4g}); coverage {covered[name] / args.trials:.3f} over {args.trials} trials"
        )
    print(f"fit_coverage: {args.trials} trials in {elapsed:.0f} s")


if __name__ == "__main__":
    main()
