"""Does the square-root rule carry an Adam LR from batch B to 4B? Real CPU training, end to end.

The rule (fitting.transfer_lr, Malladi et al. 2022): below the critical batch size, Adam's optimal
LR grows as sqrt(B). The check, on one proxy (2 layers, width 64, `pystdlib`, the held-out scale of
bench.lr_transfer, its optimisation settings) at a fixed token budget:

1. sweep the LR at batch B (tokens a step) and measure its optimum (fitting.sweep_optima);
2. read the gradient noise scale B_simple (McCandlish et al. 2018; trainer.noise) at the end of
   the best runs: the rule is claimed only where 4B lies below it;
3. train at 4B with the transferred LR, lr_opt(B) · 2, and, beside it, at lr_opt(B) unchanged and
   at the linear rule's lr_opt(B) · 4; compare each run's eval-loss curve against tokens with the
   best run at B (equal tokens, 4x fewer steps);
4. sweep the LR at 4B too and measure its optimum: the measured ratio lr_opt(4B) / lr_opt(B)
   against the rule's 2.

    python -m bench.batch_transfer [--batch-tokens 1024] [--seeds 0,1] [--workers 2]

prints the sweeps and curves, then
`batch_transfer_loss: ratio=… (final loss at 4B with the sqrt rule's LR / best at B; target <= 1.01)`,
`batch_transfer_curve: ratio=… (largest ratio over the second half of the curve, equal tokens)`,
`batch_transfer_lr: ratio=… (measured lr_opt(4B) / lr_opt(B); the sqrt rule says 2, linear 4)`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import fitting
from bench.lr_transfer import LR_STEP, Design, Runner, Scale, Sweep, lr_of, measure_optimum, run_sweep
from trainer import RunSpec

log = logging.getLogger(__name__)

LOSS_TARGET = 0.01  # loss at 4B with the transferred LR within 1% of the best at B (issue 16)
SCALE = Scale(2, 64, 2, 524_288)
EVALS = 8  # eval points along each curve


@dataclass(frozen=True)
class Curve:
    """The mean over seeds of eval loss at each eval's token count; noise: B_simple at the end (tokens)."""

    batch_tokens: int
    lr: float
    tokens: tuple[int, ...]
    loss: tuple[float, ...]
    noise_scale: float | None

    @property
    def final(self) -> float:
        return self.loss[-1]


def _curve_of(spec: RunSpec) -> tuple[tuple[int, ...], tuple[float, ...], float | None]:
    """Eval points and final B_simple of one run (NaN losses when it diverged). In a worker process."""
    from trainer import train

    result = train(spec)
    points = [(p.tokens, p.eval_loss) for p in result.curve if p.eval_loss is not None]
    if result.status != "done" or not points:
        return (), (), None
    tokens, losses = zip(*points, strict=True)
    return tuple(tokens), tuple(float(x) for x in losses), result.noise_scale


def curves(runner: Runner, design: Design, batch_tokens: int, lr: float) -> Curve:
    """Train `lr` at `batch_tokens` at every seed of the design; the mean curve."""
    spec_design = dataclasses.replace(design, batch_tokens=batch_tokens)
    specs = [
        dataclasses.replace(spec_design.spec(SCALE, lr, seed), eval_every_tokens=SCALE.tokens // EVALS)
        for seed in design.seeds
    ]
    results = runner.map(_curve_of, specs)
    usable = [r for r in results if r[0]]
    if len(usable) < len(results):
        raise RuntimeError(f"a run at batch {batch_tokens} tokens, lr {lr:.3g} diverged")
    tokens = usable[0][0]
    loss = tuple(float(np.mean([r[1][i] for r in usable])) for i in range(len(tokens)))
    noise = [r[2] for r in usable if r[2] is not None]
    return Curve(batch_tokens, lr, tokens, loss, float(np.mean(noise)) if noise else None)


@dataclass(frozen=True)
class Check:
    """Everything the check measured."""

    sweep_b: Sweep
    sweep_4b: Sweep
    lr_b: float
    lr_4b: float
    reference: Curve  # the optimum LR at B
    transferred: Curve  # 4B at 2 · lr_b (sqrt rule)
    unchanged: Curve  # 4B at lr_b
    linear: Curve  # 4B at 4 · lr_b
    wall_time: float


def _optimum(sweep: Sweep, design: Design) -> float:
    optimum = measure_optimum(sweep, window=design.window, bootstrap=design.bootstrap)
    if optimum.lr is None or optimum.status != "found":
        raise RuntimeError(f"the sweep at batch {sweep} has no interior optimum ({optimum.status})")
    return optimum.lr.value


def run_check(design: Design, *, batch_tokens: int, workers: int = 2) -> Check:
    """Sweep at B and 4B, then the three 4B curves and the reference curve at B."""
    started = time.perf_counter()
    big = dataclasses.replace(design, batch_tokens=4 * batch_tokens)
    small = dataclasses.replace(design, batch_tokens=batch_tokens)
    with Runner(workers) as runner:
        sweep_b = run_sweep(runner, small, SCALE, design.start_k)
        lr_b = _optimum(sweep_b, small)
        # The 4B sweep starts two grid steps (2x) above B's best, where the rule says to look; it
        # extends until its optimum is interior, so the start does not decide the answer.
        sweep_4b = run_sweep(runner, big, SCALE, sweep_b.best_k + round(math.log(2.0) / math.log(LR_STEP)))
        lr_4b = _optimum(sweep_4b, big)
        rule = fitting.transfer_lr(lr_b, batch_tokens, 4 * batch_tokens, optimizer="adam")
        reference = curves(runner, design, batch_tokens, lr_b)
        transferred = curves(runner, design, 4 * batch_tokens, rule.lr)
        unchanged = curves(runner, design, 4 * batch_tokens, lr_b)
        linear = curves(runner, design, 4 * batch_tokens, 4 * lr_b)
    return Check(
        sweep_b,
        sweep_4b,
        lr_b,
        lr_4b,
        reference,
        transferred,
        unchanged,
        linear,
        time.perf_counter() - started,
    )


def curve_ratio(curve: Curve, reference: Curve) -> float:
    """The largest loss ratio at equal tokens over the second half of training (the early curve
    differs by design: 4B takes 4x fewer, larger steps through the warmup)."""
    ref = dict(zip(reference.tokens, reference.loss, strict=True))
    ratios = [
        loss / ref[t]
        for t, loss in zip(curve.tokens, curve.loss, strict=True)
        if t in ref and t >= SCALE.tokens / 2
    ]
    return max(ratios)


def _curve_line(name: str, curve: Curve) -> str:
    points = " ".join(f"{t // 1024}k:{loss:.4f}" for t, loss in zip(curve.tokens, curve.loss, strict=True))
    noise = f"{curve.noise_scale:,.0f}" if curve.noise_scale is not None else "n/a"
    return (
        f"  {name} (batch {curve.batch_tokens} tokens, lr {curve.lr:.4g}, B_simple at end {noise}): {points}"
    )


def _sweep_line(sweep: Sweep, design: Design) -> str:
    means = " ".join(f"{lr_of(k):.3g}:{loss:.4f}" for k, loss in sweep.mean_losses().items())
    return f"  sweep at batch {design.batch_tokens}: {sweep.wall_time:.0f} s; lr:loss {means}"


def report(check: Check, design: Design, batch_tokens: int) -> list[str]:
    """The lines main prints."""
    b_simple = [c.noise_scale for c in (check.reference, check.transferred) if c.noise_scale is not None]
    below = bool(b_simple) and 4 * batch_tokens < min(b_simple)
    lines = [
        _sweep_line(check.sweep_b, dataclasses.replace(design, batch_tokens=batch_tokens)),
        _sweep_line(check.sweep_4b, dataclasses.replace(design, batch_tokens=4 * batch_tokens)),
        f"  optimum lr at B={batch_tokens}: {check.lr_b:.4g}; at 4B={4 * batch_tokens}: {check.lr_4b:.4g}",
        _curve_line("B, optimum lr", check.reference),
        _curve_line("4B, sqrt rule (2x lr)", check.transferred),
        _curve_line("4B, lr unchanged", check.unchanged),
        _curve_line("4B, linear rule (4x lr)", check.linear),
        f"  4B below B_simple at the end of training: {'yes' if below else 'NO: the rule is not claimed here'}",
    ]
    loss_ratio = check.transferred.final / check.reference.final
    lines.append(
        f"batch_transfer_loss: ratio={loss_ratio:.4f} (final loss at 4B with the sqrt rule's LR "
        f"{check.transferred.final:.4f} / best at B {check.reference.final:.4f}; target <= {1 + LOSS_TARGET}: "
        f"{'met' if loss_ratio <= 1 + LOSS_TARGET else 'NOT met'}; lr unchanged "
        f"{check.unchanged.final / check.reference.final:.4f}, linear rule {check.linear.final / check.reference.final:.4f})"
    )
    lines.append(
        f"batch_transfer_curve: ratio={curve_ratio(check.transferred, check.reference):.4f} (largest loss ratio "
        f"at equal tokens over the second half of training; lr unchanged "
        f"{curve_ratio(check.unchanged, check.reference):.4f}, linear rule {curve_ratio(check.linear, check.reference):.4f})"
    )
    lines.append(
        f"batch_transfer_lr: ratio={check.lr_4b / check.lr_b:.3f} (measured lr_opt(4B) {check.lr_4b:.4g} / "
        f"lr_opt(B) {check.lr_b:.4g}; the sqrt rule says 2, the linear rule 4)"
    )
    lines.append(f"batch_transfer_time: {check.wall_time:.0f} s")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-tokens", type=int, default=1024, help="B, tokens a step (4B is the other)")
    parser.add_argument("--seeds", default="0,1", help="comma-separated training seeds")
    parser.add_argument("--workers", type=int, default=2, help="training processes, one torch thread each")
    parser.add_argument("--parametrization", default="sp", choices=("sp", "mup"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    seeds = tuple(int(s) for s in args.seeds.split(","))
    if args.batch_tokens % 64 or args.batch_tokens <= 0:
        raise SystemExit(
            f"batch_transfer: --batch-tokens must be a positive multiple of 64 (seq_len), got {args.batch_tokens}"
        )
    base = Design(small=(SCALE,), held_out=(), seeds=seeds, parametrization=args.parametrization)
    check = run_check(base, batch_tokens=args.batch_tokens, workers=args.workers)
    print(f"batch_transfer {args.parametrization}, seeds {list(seeds)}, {args.workers} workers, {SCALE}")
    for line in report(check, base, args.batch_tokens):
        print(line, flush=True)


if __name__ == "__main__":
    main()
