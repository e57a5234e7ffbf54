"""How noisy is bench.lr_transfer's loss target? The runs' own scatter near the optimal LR, and the
chance it leaves a perfect LR predictor of meeting the target.

Trains one scale of bench.lr_transfer's design at `--points` LRs 1% apart, per seed, around `--lr`
(near the optimum) and, as the baseline in the same process, around `--baseline-lr` (well below it).
On a bowl 2% deep over 3x in LR the whole 5% span moves the loss by under 0.01%, so the spread of
these final losses is the runs' scatter: which step the run leaves the byte-level plateau at, and what follows.
Runs are deterministic (the same spec gives the same loss), so the scatter is sensitivity to the
LR, not randomness in the trainer.

Then, by simulation: a predictor that lands exactly on the true optimum is trained on the seeds and
compared, as lr_transfer does, with the best of a sweep of 9 LRs sqrt(2) apart whose mean losses
(over the seeds) carry the same scatter, on a bowl of `--curvature` (relative loss per squared
e-fold of LR; the default is the design's "2% over 3x"). The printed chance is that of meeting the
1% loss target at one held-out width; a pair needs it at each.

    python -m bench.lr_noise [--parametrization mup] [--width 128] [--lr 0.03] [--seeds 7,8]

Last line: `lr_noise: ratio=<scatter near the optimum / at the baseline LR> ...`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import numpy as np

from bench.lr_transfer import DESIGNS, LOSS_TARGET, Runner, Scale

SWEEP_POINTS = 9  # a held-out sweep: 7-9 LRs sqrt(2) apart (bench.lr_transfer's margin rule)
SWEEP_STEP = math.log(math.sqrt(2.0))
# bench.lr_transfer's bowls: about 2% of loss over 3x in LR (Design.window's comment).
DEFAULT_CURVATURE = 0.02 / math.log(3.0) ** 2
SIMULATIONS = 200_000


def relative_scatter(losses: np.ndarray) -> float:
    """Pooled relative standard deviation of the final losses, one row per seed (its LRs 1% apart)."""
    deviations = losses / losses.mean(axis=1, keepdims=True) - 1.0
    return float(np.sqrt(np.sum(deviations**2) / (deviations.size - losses.shape[0])))


def perfect_predictor_pass_rate(scatter: float, seeds: int, curvature: float, seed: int = 0) -> float:
    """Chance that the loss at the true optimum (mean over `seeds` runs of relative scatter `scatter`)
    is within LOSS_TARGET of the best mean loss of a sweep on the bowl with the same scatter."""
    rng = np.random.default_rng(seed)
    offsets = (np.arange(SWEEP_POINTS) - SWEEP_POINTS // 2) * SWEEP_STEP
    # The sweep's grid lies anywhere relative to the optimum: a uniform phase within one step.
    phase = rng.uniform(-0.5, 0.5, (SIMULATIONS, 1)) * SWEEP_STEP
    bowl = 1.0 + curvature * (offsets[None, :] + phase) ** 2
    noise = scatter / math.sqrt(seeds)
    best = np.min(bowl * (1.0 + rng.normal(0.0, noise, bowl.shape)), axis=1)
    at_prediction = 1.0 + rng.normal(0.0, noise, SIMULATIONS)
    return float(np.mean(at_prediction <= (1.0 + LOSS_TARGET) * best))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parametrization", default="mup", choices=("sp", "mup"))
    parser.add_argument("--width", type=int, default=128, help="d_model of the scale (2 layers, 2 heads)")
    parser.add_argument("--tokens", type=int, default=524_288)
    parser.add_argument("--lr", type=float, default=0.03, help="near the optimum of the scale")
    parser.add_argument("--baseline-lr", type=float, default=0.0057, help="well below the optimum")
    parser.add_argument("--points", type=int, default=6, help="LRs 1%% apart per seed")
    parser.add_argument("--seeds", default="7,8")
    parser.add_argument("--curvature", type=float, default=DEFAULT_CURVATURE)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--qk-norm", action="store_true", help="LayerNorm on queries and keys (RunSpec.qk_norm)"
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.points < 2 or not seeds:
        raise SystemExit("lr_noise: --points needs 2 or more, --seeds one or more")
    design = dataclasses.replace(DESIGNS["wide"], parametrization=args.parametrization, qk_norm=args.qk_norm)
    scale = Scale(2, args.width, 2, args.tokens)
    steps = 1.01 ** np.arange(args.points)
    started = time.perf_counter()
    scatter: dict[str, float] = {}
    with Runner(args.workers) as runner:
        for label, lr in (("optimum", args.lr), ("baseline", args.baseline_lr)):
            specs = [design.spec(scale, float(lr * step), seed) for seed in seeds for step in steps]
            losses = np.array(runner.losses(specs)).reshape(len(seeds), args.points)
            scatter[label] = relative_scatter(losses)
            rows = ", ".join(" ".join(f"{loss:.4f}" for loss in row) for row in losses)
            print(f"{label} LR {lr:g} x 1.01^k, seeds {seeds}: {rows}; relative scatter {scatter[label]:.2%}")
    chance = perfect_predictor_pass_rate(scatter["optimum"], len(seeds), args.curvature)
    print(
        f"a perfect LR predictor meets the {LOSS_TARGET:.0%} loss target at one width with chance {chance:.2f} "
        f"({len(seeds)} seeds, curvature {args.curvature:.4f}); at five such widths {chance**5:.2f}"
    )
    print(
        f"lr_noise: ratio={scatter['optimum'] / scatter['baseline']:.2f} (scatter near the optimum "
        f"{scatter['optimum']:.2%} / at LR {args.baseline_lr:g} {scatter['baseline']:.2%}; "
        f"{args.parametrization}{', qk_norm' if args.qk_norm else ''}, width {args.width}; {time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
