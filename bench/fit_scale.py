"""Cost of a Chinchilla fit as the runs grow, and of a small Huber threshold.

For each size, a fresh process draws that many synthetic runs of the known law
(fitting.synthetic.CHINCHILLA_TRUTH: model sizes 1e7 to 3e9, 1 to 300 tokens per parameter, 1%
log-normal noise) and fits it with 1000 bootstrap replicates. Printed per size: the wall time and
the process's peak resident memory (getrusage; interpreter and data included); then the time's
growth per decade of runs (slope of log time on log runs: 1.0 is linear). Targets: peak under
1 GB at every size, slope <= 1.05, 10,000 runs under 30 s on 2 quiet cores.

Last, on the 240 Chinchilla runs of Epoch AI's replication: the fit at delta = 1e-4 against the
same fit at 1e-3 in the same process (target: ratio <= 2), with the convergence of each.

    python -m bench.fit_scale [--sizes 1000 10000] [--full] [--replicates 1000] [--repeats 3]

--full adds 100,000 runs (several minutes).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import numpy as np

import fitting
from bench._data import chinchilla_runs
from fitting.synthetic import CHINCHILLA_TRUTH

DEFAULT_SIZES = (1_000, 10_000)
FULL_SIZE = 100_000
MEMORY_TARGET_MB = 1024.0
SLOPE_TARGET = 1.05
SEED = 0


def synthetic_runs(n_runs: int, rng: np.random.Generator, sigma: float = 0.01) -> tuple[np.ndarray, ...]:
    """N, D and losses of n_runs runs spread log-uniformly over the range of
    fitting.synthetic.chinchilla_design, from CHINCHILLA_TRUTH with log-normal noise of scale sigma."""
    n_params = np.exp(rng.uniform(np.log(1e7), np.log(10**9.5), n_runs))
    tokens = n_params * np.exp(rng.uniform(0.0, np.log(10**2.5), n_runs))
    t = CHINCHILLA_TRUTH
    loss = t["E"] + t["A"] / n_params ** t["alpha"] + t["B"] / tokens ** t["beta"]
    return n_params, tokens, loss * np.exp(rng.normal(0.0, sigma, n_runs))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kilobytes on Linux


def _cpu_seconds() -> float:
    """User and system CPU time of this process: on a shared machine, what the fit itself cost."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_one(n_runs: int, replicates: int) -> dict[str, float]:
    """Fit n_runs synthetic runs in this process: seconds, peak RSS before and after the fit."""
    n_params, tokens, loss = synthetic_runs(n_runs, np.random.default_rng(SEED))
    before = _peak_rss_mb()
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    fit = fitting.fit("chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=replicates, seed=SEED)
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
    return {
        "runs": n_runs,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": _peak_rss_mb(),
        "rss_before_fit_mb": before,
        "alpha": fit.params["alpha"],
        "converged": fit.converged,
        "failed": fit.n_failed_replicates,
    }


def measure_in_subprocess(n_runs: int, replicates: int) -> dict[str, float]:
    """measure_one in a fresh interpreter, so each size's peak memory is its own."""
    output = subprocess.run(
        [sys.executable, "-m", "bench.fit_scale", "--child", str(n_runs), "--replicates", str(replicates)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def growth_slope(first: dict[str, float], second: dict[str, float], key: str = "seconds") -> float:
    """Growth of time per decade of runs between two sizes: d log(time) / d log(runs)."""
    return math.log(second[key] / first[key]) / math.log(second["runs"] / first["runs"])


def epoch_delta_ratio(replicates: int, repeats: int) -> None:
    """The 240-run fit at delta 1e-4 against 1e-3, median of `repeats` each, alternated."""
    n_params, tokens, loss = chinchilla_runs()
    times: dict[float, list[float]] = {1e-3: [], 1e-4: []}
    fits = {}
    for _ in range(repeats):
        for delta in times:
            started = time.perf_counter()
            fits[delta] = fitting.fit(
                "chinchilla", N=n_params, D=tokens, loss=loss, bootstrap=replicates, seed=SEED, delta=delta
            )
            times[delta].append(time.perf_counter() - started)
    small, large = (float(np.median(times[d])) for d in (1e-4, 1e-3))
    for delta, fit in fits.items():
        print(
            f"fit_scale_epoch_delta_{delta:g}: {float(np.median(times[delta])):.2f} s, objective {fit.objective:.10g}, "
            f"converged={fit.converged}, failed replicates {fit.n_failed_replicates}, warnings {len(fit.warnings)}"
        )
    print(
        f"fit_scale_epoch: ratio={small / large:.2f} (delta 1e-4 {small:.2f} s / delta 1e-3 {large:.2f} s; target <= 2)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--full", action="store_true", help=f"add {FULL_SIZE:,} runs")
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of the Epoch fits (median)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_one(args.child, args.replicates)))
        return

    sizes = sorted(set(args.sizes) | ({FULL_SIZE} if args.full else set()))
    results = []
    for n_runs in sizes:
        result = measure_in_subprocess(n_runs, args.replicates)
        results.append(result)
        print(
            f"fit_scale_{n_runs}: {result['seconds']:.1f} s ({result['cpu_seconds']:.1f} s CPU), peak RSS {result['peak_rss_mb']:.0f} MB "
            f"(ratio={result['peak_rss_mb'] / MEMORY_TARGET_MB:.2f} of 1 GB; {result['rss_before_fit_mb']:.0f} MB "
            f"before the fit), {args.replicates} replicates, alpha {result['alpha']:.4f}, "
            f"converged={result['converged']}, failed replicates {result['failed']}",
            flush=True,
        )
    for first, second in zip(results, results[1:], strict=False):
        print(
            f"fit_scale_slope_{first['runs']}_{second['runs']}: slope={growth_slope(first, second):.2f} per decade "
            f"of wall time, {growth_slope(first, second, 'cpu_seconds'):.2f} of CPU time (target <= {SLOPE_TARGET})",
            flush=True,
        )
    epoch_delta_ratio(args.replicates, args.repeats)


if __name__ == "__main__":
    main()
