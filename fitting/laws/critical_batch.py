"""The critical-batch relations between steps, examples, batch size and loss.

McCandlish et al. 2018: at a fixed target loss, runs at batch B need S steps and E = B S examples
with (S/S_min - 1)(E/E_min - 1) = 1 (eq. 2.11), i.e. S = S_min (1 + B_crit/B), B_crit = E_min/S_min.
Kaplan et al. 2020: B_crit(L) = B* / L^(1/alpha_B) (eq. 5.1), and a run of S steps at batch B
counts as S_min = S / (1 + B_crit(L)/B) steps at a batch far below the critical one (eq. 5.4).
"""

from __future__ import annotations

import numpy as np

from fitting.laws.base import Array


def log_steps_factor(log_b_crit: Array, log_batch: Array) -> Array:
    """log(S / S_min) = log(1 + B_crit/B) at a target loss (McCandlish et al. 2018, eq. 2.11)."""
    return np.logaddexp(0.0, log_b_crit - log_batch)


def b_crit_at_loss(b_star: float, alpha_b: float, loss: Array) -> Array:
    """B_crit(L) = B* / L^(1/alpha_B) (Kaplan et al. 2020, eq. 5.1)."""
    return b_star / loss ** (1.0 / alpha_b)


def min_steps(steps: Array, batch: Array, b_crit: Array) -> Array:
    """S_min = S / (1 + B_crit/B): the steps at a batch far below B_crit (Kaplan et al. 2020, eq. 5.4)."""
    return steps / (1.0 + b_crit / batch)
