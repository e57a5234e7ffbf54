"""Single-variable power law with an offset, L = E + A x^-alpha, for L(N), L(D) or L(C)
(Kaplan et al. 2020 eqs. 1.1-1.3 with the irreducible term of Henighan et al. 2020).

Fitted as log L = LSE(a - alpha log x, e) with A = e^a, E = e^e.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitting.laws.base import Array, Law, product_grid, softmax_lse

_LOG_SCALE = np.arange(0.0, 50.01, 5.0)  # compute reaches 1e24, so A can be far larger than for N or D
_LOG_E = np.arange(-1.0, 1.51, 0.5)
_EXPONENTS = np.arange(0.0, 2.01, 0.25)


@dataclass(frozen=True)
class Power(Law):
    """Raw theta = (a, e, alpha)."""

    def log_predict(self, theta: Array, logx: Array) -> tuple[Array, Array]:
        a, e, alpha = (theta[:, i : i + 1] for i in range(3))
        log_x = logx[0][None, :]
        value, (p_x, p_e) = softmax_lse(a - alpha * log_x, e + 0.0 * log_x)
        jac = np.stack([p_x, p_e, -p_x * log_x], axis=1)
        return value, jac

    def grid(self) -> Array:
        return product_grid(_LOG_SCALE, _LOG_E, _EXPONENTS)


POWER = Power(
    name="power",
    inputs=("x",),
    param_names=("E", "A", "alpha"),
    raw_names=("a", "e", "alpha"),
    lower=(-20.0, -10.0, 0.0),
    upper=(150.0, 4.0, 3.0),
    description="L = E + A x^-alpha (x = N, D or C)",
    log_params=(0, 1),
)
