"""The learning-rate schedule as one pure function of the step, nanoGPT's `get_lr` shape.

All schedules start with a linear warmup from lr/warmup_steps to lr (nanoGPT), then:
  cosine    half-cosine from lr down to min_lr_ratio * lr at the last step (Loshchilov & Hutter
            2017, SGDR; the GPT-3 / Chinchilla practice, decaying to 10% of the peak:
            Hoffmann et al. 2022 §3 and Appendix B).
  wsd       warmup-stable-decay: constant lr, then a linear decay to min_lr_ratio * lr over the
            last decay_fraction of the steps (Hu et al. 2024, MiniCPM; Hägele et al. 2024,
            "Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations", who find
            a 20% cooldown matches cosine).
  constant  constant lr after warmup.
"""

from __future__ import annotations

import math

from trainer.spec import RunSpec


def lr_at(step: int, spec: RunSpec) -> float:
    """Learning rate of optimizer step `step` (0-based) of a run of spec.steps steps."""
    warmup, total = spec.warmup_steps, spec.steps
    if step < warmup:
        return spec.lr * (step + 1) / warmup
    min_lr = spec.lr * spec.min_lr_ratio
    if spec.schedule == "constant":
        return spec.lr
    if spec.schedule == "wsd":
        decay_steps = max(1, round(spec.decay_fraction * total))
        decay_start = max(warmup, total - decay_steps)
        if step < decay_start:
            return spec.lr
        progress = (step - decay_start + 1) / max(1, total - decay_start)
        return spec.lr + min(1.0, progress) * (min_lr - spec.lr)
    # cosine: progress 0 right after warmup, 1 at the last step
    span = total - 1 - warmup
    progress = 1.0 if span <= 0 else min(1.0, (step - warmup) / span)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (spec.lr - min_lr)
