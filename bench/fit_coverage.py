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

import numpy as np

from fitting.synthetic import CHINCHILLA_TRUTH, coverage_trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    started = time.perf_counter()
    covered, widths, estimates = coverage_trials(np.random.default_rng(2026), args.trials)
    elapsed = time.perf_counter() - started
    for name in CHINCHILLA_TRUTH:
        needed = 3.92 * float(np.std(estimates[name]))
        median = float(np.median(widths[name]))
        print(
            f"fit_coverage_{name}: ratio={median / needed:.2f} (ours median width {median:.4g} / baseline "
            f"3.92 sd of estimates {needed:.4g}); coverage {covered[name] / args.trials:.3f} over {args.trials} trials"
        )
    print(f"fit_coverage: {args.trials} trials in {elapsed:.0f} s")


if __name__ == "__main__":
    main()
