"""lr_opt at the scale of a cluster's sweep log: 1,000 (N, D) sweeps of 9 learning rates, 1,000
bootstrap replicates, fitted with every sweep's bowl and replicates in one batched solve
(fitting.bowl.bowl_optima), against the per-sweep loop it replaced (one solve_batch call for each
sweep's point fit and one for its replicates), run in the same process.

    python -m bench.optimum_scale [--sweeps 1000] [--runs 9] [--bootstrap 1000] [--baseline-sweeps 50]

The per-sweep loop's cost is the same for every sweep, so it is timed on the first
--baseline-sweeps sweeps and scaled to all of them (0 or the full count: timed on all). Its optima
are compared with the batched ones on those sweeps: the largest difference in log LR is printed.
Last line: `optimum_scale: ratio=… (batched … s / per-sweep loop … s for … sweeps; target batched < 30 s)`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fitting
from fitting.bootstrap import resample_weights
from fitting.bowl import _prepare, best_on_edge
from fitting.laws.hparams import bowl_minimum
from fitting.objective import DEFAULT_DELTA
from fitting.optimum import DEFAULT_WINDOW
from fitting.solve import solve_batch

TARGET_SECONDS = 30.0


def synthetic_sweeps(n_sweeps: int, n_runs: int, seed: int = 0) -> dict[str, np.ndarray]:
    """n_sweeps (N, D) cells, each n_runs learning rates on a sqrt(2) grid around the Step Law
    optimum (Li et al. 2025), loss = a Chinchilla-like base times a bowl in log LR, 0.1% noise."""
    rng = np.random.default_rng(seed)
    n_params = np.exp(rng.uniform(np.log(3e7), np.log(3e9), n_sweeps))
    tokens = n_params * np.exp(rng.uniform(np.log(10.0), np.log(300.0), n_sweeps))
    lr_opt = 1.79 * n_params**-0.713 * tokens**0.307
    steps = 0.5 * np.log(2.0) * (np.arange(n_runs) - (n_runs - 1) / 2)
    offset = rng.uniform(-0.3, 0.3, n_sweeps)
    log_lr = np.log(lr_opt)[:, None] + steps[None, :] + offset[:, None]
    base = 1.8 + 400 / n_params**0.34 + 2000 / tokens**0.28
    bowl = 0.01 * (log_lr - np.log(lr_opt)[:, None]) ** 2
    loss = base[:, None] * np.exp(bowl + rng.normal(0.0, 0.001, log_lr.shape))
    return {
        "N": np.repeat(n_params, n_runs),
        "D": np.repeat(tokens, n_runs),
        "lr": np.exp(log_lr).ravel(),
        "loss": loss.ravel(),
    }


def per_sweep_loop(runs: dict[str, np.ndarray], n_sweeps: int, n_runs: int, bootstrap: int) -> np.ndarray:
    """The replaced computation: each sweep's point fit and replicates, one solve_batch call each.
    Returns the (sweeps,) log optima (NaN where none)."""
    rng = np.random.default_rng(0)
    out = np.full(n_sweeps, np.nan)
    for s in range(n_sweeps):
        rows = slice(s * n_runs, (s + 1) * n_runs)
        log_axes, log_loss = np.log(runs["lr"][rows])[None, :], np.log(runs["loss"][rows])
        problem = _prepare(log_axes, log_loss, DEFAULT_WINDOW, asymmetric=True)
        if problem is None:
            continue
        z = (problem.design[1])[None, :]
        point = solve_batch(
            problem.law,
            problem.start[None, :],
            z,
            problem.target,
            np.ones((1, problem.target.size)),
            DEFAULT_DELTA,
        ).theta
        stationary, ok = bowl_minimum(point)
        if not ok[0]:
            continue
        weights = resample_weights(problem.target.size, bootstrap, rng)
        solve_batch(
            problem.law, np.repeat(point, bootstrap, axis=0), z, problem.target, weights, DEFAULT_DELTA
        )
        if not best_on_edge(log_axes, log_loss):
            out[s] = problem.centre[0] + problem.spread[0] * stationary[0, 0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweeps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--baseline-sweeps", type=int, default=50)
    args = parser.parse_args()
    runs = synthetic_sweeps(args.sweeps, args.runs)

    start, cpu = time.perf_counter(), time.process_time()
    fit = fitting.fit("lr_opt", **runs, form="steplaw", bootstrap=args.bootstrap, seed=0)
    batched, batched_cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"batched: {args.sweeps} sweeps x {args.runs} runs, {args.bootstrap} replicates: {batched:.1f} s "
        f"({batched_cpu:.1f} s CPU); "
        f"LR_opt = {fit.params['a']:.3g} N^{fit.params['b']:.3f} D^{fit.params['c']:.3f} "
        "(truth 1.79 N^-0.713 D^0.307)"
    )

    timed = args.sweeps if args.baseline_sweeps <= 0 else min(args.baseline_sweeps, args.sweeps)
    start, cpu = time.perf_counter(), time.process_time()
    looped = per_sweep_loop(runs, timed, args.runs, args.bootstrap)
    loop_seconds = (time.perf_counter() - start) * args.sweeps / timed
    loop_cpu = (time.process_time() - cpu) * args.sweeps / timed
    print(
        f"per-sweep loop: {timed} sweeps timed, {loop_seconds:.1f} s ({loop_cpu:.1f} s CPU) for {args.sweeps} sweeps"
    )

    # fit.optima come ordered by (N, D), the synthetic sweeps in random order: match them by N.
    sweep_n = runs["N"][:: args.runs]
    by_n = np.array([np.log(o.lr.value) if o.status == "found" else np.nan for o in fit.optima])
    mine = by_n[np.searchsorted(np.sort(sweep_n), sweep_n[:timed])]
    both = np.isfinite(mine) & np.isfinite(looped)
    difference = float(np.max(np.abs(mine - looped)[both])) if both.any() else float("nan")
    print(f"largest |log LR_opt| difference, batched vs loop, over {timed} sweeps: {difference:.2e}")
    print(
        f"optimum_scale: ratio={batched / loop_seconds:.3f} (batched {batched:.1f} s / per-sweep loop "
        f"{loop_seconds:.1f} s for {args.sweeps} sweeps; CPU ratio {batched_cpu / loop_cpu:.3f}; "
        f"target batched < {TARGET_SECONDS:.0f} s)"
    )


if __name__ == "__main__":
    main()
