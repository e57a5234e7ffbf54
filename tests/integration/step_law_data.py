"""Imported runs with a known truth for the LR, batch and loss laws, shared by the prediction tests:
Step Law sweeps (Li et al. 2025: LR_opt = a N^b D^c, B_opt = a D^c in tokens) and a Chinchilla grid."""

from __future__ import annotations

import numpy as np

LR_TRUTH = (1.79, -0.713, 0.307)  # Step Law form: LR_opt = a N^b D^c
BATCH_TRUTH = (0.58, 0.571)  # B_opt = a D^c, tokens
FIXED_BATCH = 2e5  # the batch of sweeps that vary the LR alone (tokens)


def lr_opt(n_params: float, tokens: float) -> float:
    a, b, c = LR_TRUTH
    return a * n_params**b * tokens**c


def batch_opt(tokens: float) -> float:
    return BATCH_TRUTH[0] * tokens ** BATCH_TRUTH[1]


def sweep_rows(rng: np.random.Generator, *, joint: bool = True) -> list[dict]:
    """6 (N, D) sweeps, each 7 LRs on sqrt(2) steps around the optimum, by 5 batch sizes around B_opt
    (joint) or at FIXED_BATCH; the loss a Chinchilla-like base times a bowl in log LR (and log B) with
    0.1% noise."""
    rows = []
    for n_params in (1e8, 3e8, 1e9):
        for ratio in (20.0, 80.0):
            tokens = ratio * n_params
            base = 1.8 + 400 / n_params**0.34 + 2000 / tokens**0.28
            for i in range(-3, 4):
                for j in range(-2, 3) if joint else (None,):
                    lr = lr_opt(n_params, tokens) * np.exp(0.5 * np.log(2.0) * i + 0.1)
                    batch = batch_opt(tokens) * np.exp(0.5 * np.log(2.0) * j - 0.1) if joint else FIXED_BATCH
                    bowl = 0.01 * np.log(lr / lr_opt(n_params, tokens)) ** 2
                    if joint:
                        bowl += 0.006 * np.log(batch / batch_opt(tokens)) ** 2
                    loss = base * np.exp(bowl + rng.normal(0.0, 0.001))
                    rows.append({"N": n_params, "D": tokens, "lr": lr, "batch": batch, "loss": loss})
    return rows


def loss_rows() -> list[dict]:
    """L = 1.7 + 400/N^0.34 + 410/D^0.28 on a 4 x 3 grid (no LR: these runs are not in the sweeps)."""
    return [
        {"N": n, "D": d, "loss": 1.7 + 400 / n**0.34 + 410 / d**0.28}
        for n in (1e7, 3e7, 1e8, 3e8)
        for d in (1e9, 3e9, 1e10)
    ]
