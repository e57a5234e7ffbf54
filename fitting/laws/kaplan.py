"""Kaplan et al. 2020 joint law L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D (eq. 1.5).

Fitted in log space: log L = alpha_D * LSE(r (n_c - log N), d_c - log D) with r = alpha_N/alpha_D,
n_c = log N_c, d_c = log D_c. The form has no irreducible term: Kaplan fitted it on losses far
from the entropy floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitting.laws.base import Array, Law, product_grid, softmax_lse

# Kaplan et al. 2020 report N_c = 6.4e13 (log 31.8), D_c = 1.8e13 (log 30.5), alpha_N = 0.076,
# alpha_D = 0.103 for WebText2; small proxies on other data land elsewhere, so the grid is wide.
_LOG_CONSTANTS = np.arange(10.0, 50.01, 10.0)
_EXPONENTS = np.array([0.05, 0.1, 0.2, 0.4, 0.8])


@dataclass(frozen=True)
class Kaplan(Law):
    """Raw theta = (n_c, d_c, alpha_N, alpha_D)."""

    def log_predict(self, theta: Array, logx: Array) -> tuple[Array, Array]:
        n_c, d_c, alpha_n, alpha_d = (theta[:, i : i + 1] for i in range(4))
        log_n, log_d = logx[0][None, :], logx[1][None, :]
        ratio = alpha_n / alpha_d
        gap_n = n_c - log_n
        lse, (p_n, p_d) = softmax_lse(ratio * gap_n, d_c - log_d)
        value = alpha_d * lse
        jac = np.stack(
            [
                alpha_n * p_n,  # d/d n_c
                alpha_d * p_d,  # d/d d_c
                p_n * gap_n,  # d/d alpha_N
                lse - p_n * ratio * gap_n,  # d/d alpha_D
            ],
            axis=1,
        )
        return value, jac

    def grid(self) -> Array:
        return product_grid(_LOG_CONSTANTS, _LOG_CONSTANTS, _EXPONENTS, _EXPONENTS)


KAPLAN = Kaplan(
    name="kaplan",
    inputs=("N", "D"),
    param_names=("N_c", "D_c", "alpha_N", "alpha_D"),
    raw_names=("n_c", "d_c", "alpha_N", "alpha_D"),
    lower=(0.0, 0.0, 1e-3, 1e-3),
    upper=(120.0, 120.0, 3.0, 3.0),
    description="L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D (Kaplan et al. 2020, eq. 1.5)",
    log_params=(0, 1),
)
