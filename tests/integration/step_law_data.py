"""Imported runs with a known truth for the LR, batch, loss and critical-batch laws, shared by the
prediction tests: Step Law sweeps (Li et al. 2025: LR_opt = a N^b D^c, B_opt = a D^c in tokens), a
Chinchilla grid, and loss curves with a known critical batch size."""

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


def curve_points(batch: float, rng: np.random.Generator, *, b_star: float, alpha_b: float) -> list[dict]:
    """Eval losses along S = S_min (1 + B_crit(L)/B) (McCandlish et al. 2018, eq. 2.11) for
    L(S_min) = 2 + 30 S_min^-0.5, with B_crit(L) = b_star / L^(1/alpha_b) (Kaplan et al. 2020, eq. 5.1)
    and 0.1% noise; the noise scale B_simple = B_crit(L)/2."""
    s_min = np.geomspace(20.0, 2e4, 80)
    loss = 2.0 + 30.0 * s_min**-0.5
    b_crit = b_star / loss ** (1 / alpha_b)
    steps = np.round(s_min * (1 + b_crit / batch)).astype(int)
    keep = np.concatenate([[True], np.diff(steps) > 0])
    return [
        {"step": int(s), "tokens": float(s * batch), "eval_loss": float(value * np.exp(rng.normal(0, 0.001))),
         "train_loss": float(value), "noise_scale": float(0.5 * b), "lr": 1e-3, "wall_time": None}
        for s, value, b in zip(steps[keep], loss[keep], b_crit[keep], strict=True)
    ]  # fmt: skip
