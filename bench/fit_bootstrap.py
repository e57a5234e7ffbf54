"""Speed of a full Chinchilla fit with 1000 bootstrap replicates, against the plain method.

Plain method: for one bootstrap replicate, scipy L-BFGS-B (analytic gradient, default
tolerances) from every start of the same initialisation grid, keeping the best; this is the
recipe of Hoffmann et al. as replicated by Epoch AI, applied per replicate. It is timed on a
few replicates in the same process; each of those replicates' objective from our solver must be
no worse than the plain method's.

    python -m bench.fit_bootstrap [--replicates 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fitting
from bench._data import chinchilla_runs
from fitting.bootstrap import resample_weights
from fitting.laws import CHINCHILLA
from fitting.search import huber_value_and_gradient, lbfgs

N_REPLICATES = 1000
SEED = 0


def plain_lbfgs(start: np.ndarray, logx: np.ndarray, target: np.ndarray, weights: np.ndarray) -> float:
    """What a straightforward user would run: scipy L-BFGS-B from one start, default tolerances."""
    return lbfgs(CHINCHILLA, start, logx, target, weights, 1e-3)[1]


def plain_replicate(logx: np.ndarray, target: np.ndarray, weights: np.ndarray) -> float:
    """Best objective of L-BFGS-B from every grid start on one resample."""
    return min(plain_lbfgs(start, logx, target, weights) for start in CHINCHILLA.grid())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicates", type=int, default=2, help="replicates timed with the plain method")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of our full fit (median)")
    args = parser.parse_args()

    n_params, tokens, loss = chinchilla_runs()
    logx, target = np.log(np.stack([n_params, tokens])), np.log(loss)

    totals, point_only = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=0, seed=SEED)
        point_only.append(time.perf_counter() - started)
        started = time.perf_counter()
        fit = fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=N_REPLICATES, seed=SEED)
        totals.append(time.perf_counter() - started)
    total, point = float(np.median(totals)), float(np.median(point_only))
    ours_per_replicate = max(total - point, 1e-9) / N_REPLICATES

    # The same resamples our fit drew (same generator, same seed), the first few of them.
    weights = resample_weights(len(target), N_REPLICATES, np.random.default_rng(SEED))
    plain_times, worse = [], 0
    for replicate in range(args.replicates):
        started = time.perf_counter()
        plain = plain_replicate(logx, target, weights[replicate])
        plain_times.append(time.perf_counter() - started)
        ours, _ = huber_value_and_gradient(
            CHINCHILLA.from_natural(fit.draws[replicate]), CHINCHILLA, logx, target, weights[replicate], 1e-3
        )
        worse += ours > plain + 1e-12
        print(f"  replicate {replicate}: objective ours {ours:.12g}, plain {plain:.12g}")
    plain_per_replicate = float(np.mean(plain_times))

    print(
        f"fit_bootstrap_per_replicate: ratio={plain_per_replicate / ours_per_replicate:.0f} "
        f"(ours {ours_per_replicate * 1e3:.3f} ms / baseline {plain_per_replicate * 1e3:.0f} ms per replicate; "
        f"ours worse on {worse} of {args.replicates} replicates)"
    )
    print(
        f"fit_bootstrap_total: {total:.2f} s for the multi-start point estimate + held-out refit + "
        f"{N_REPLICATES} replicates (point estimate alone {point:.2f} s; target < 3 s); "
        f"failed replicates {fit.n_failed_replicates}"
    )


if __name__ == "__main__":
    main()
