"""Kaplan et al. 2020 step law L(N, S_min) = (N_c/N)^alpha_N + (S_c/S_min)^alpha_S (eq. 1.6 / 5.6),
with S_min the steps the run would need at a batch far below the critical one.

Fitted in log space: log L = LSE(alpha_N (n_c - log N), alpha_S (s_c - log S_min)),
n_c = log N_c, s_c = log S_c.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitting.laws.base import Array, Law, product_grid, softmax_lse

# Kaplan et al. 2020 (Table 2 as recalled in ../shared, unverified): N_c = 8.8e13 (log 32),
# S_c = 2.1e3 (log 7.6), alpha_N = 0.076, alpha_S = 0.76; small proxies land elsewhere, so a wide grid.
_LOG_N_C = np.arange(10.0, 50.01, 10.0)
_LOG_S_C = np.arange(0.0, 20.01, 4.0)
_EXPONENTS = np.array([0.05, 0.1, 0.3, 0.8, 1.5])


@dataclass(frozen=True)
class KaplanSteps(Law):
    """Raw theta = (n_c, s_c, alpha_N, alpha_S); inputs (N, S_min)."""

    def log_predict(self, theta: Array, logx: Array) -> tuple[Array, Array]:
        n_c, s_c, alpha_n, alpha_s = (theta[:, i : i + 1] for i in range(4))
        log_n, log_s = logx[0][None, :], logx[1][None, :]
        gap_n, gap_s = n_c - log_n, s_c - log_s
        value, (p_n, p_s) = softmax_lse(alpha_n * gap_n, alpha_s * gap_s)
        jac = np.stack([p_n * alpha_n, p_s * alpha_s, p_n * gap_n, p_s * gap_s], axis=1)
        return value, jac

    def grid(self) -> Array:
        return product_grid(_LOG_N_C, _LOG_S_C, _EXPONENTS, _EXPONENTS)


KAPLAN_STEPS = KaplanSteps(
    name="kaplan_steps",
    inputs=("N", "S_min"),
    param_names=("N_c", "S_c", "alpha_N", "alpha_S"),
    raw_names=("n_c", "s_c", "alpha_N", "alpha_S"),
    lower=(0.0, -10.0, 0.001, 0.001),
    upper=(120.0, 60.0, 5.0, 5.0),
    description="L = (N_c/N)^alpha_N + (S_c/S_min)^alpha_S",
    log_params=(0, 1),
)
