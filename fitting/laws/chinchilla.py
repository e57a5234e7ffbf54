"""Chinchilla parametric loss L = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022, eq. 2) and
its equal-exponent variant L = E + A/N^alpha + B/D^alpha (Gadre et al. 2024, over-trained models).

Fitted as log L = LSE(a - alpha log N, b - beta log D, e) with A = e^a, B = e^b, E = e^e,
the parameterisation of Hoffmann et al. (approach 3) and the Epoch replication.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitting.laws.base import Array, Law, lse, product_grid, softmax_lse

# Hoffmann et al. 2022 (appendix D.2) initialisation grid, as the Epoch replication states it:
# alpha, beta in {0, 0.5, ..., 2}; e in {-1, -0.5, ..., 1}; a, b in {0, 5, ..., 25}. We extend e to
# 1.5 so that irreducible losses up to e^1.5 = 4.5 nats are reachable from a nearby start.
_EXPONENTS = np.arange(0.0, 2.01, 0.5)
_LOG_E = np.arange(-1.0, 1.51, 0.5)
_LOG_SCALE = np.arange(0.0, 25.01, 5.0)

# Box bounds on the raw parameters. Exponents stay in [0, 3]: a negative exponent means loss
# grows with scale, which is not a scaling law; a fit that ends on a bound says so in warnings.
_BOUND_LOG_SCALE = (-20.0, 80.0)
_BOUND_LOG_E = (-10.0, 4.0)
_BOUND_EXPONENT = (0.0, 3.0)


@dataclass(frozen=True)
class ChinchillaForm(Law):
    """What both Chinchilla forms share, on natural parameters (E, A, B, alpha[, beta]): the loss
    itself and its compute-optimal allocation in closed form."""

    def exponents(self, natural: Array) -> tuple[Array, Array]:
        """alpha and beta of each row of natural parameters (M, P), as columns (M, 1)."""
        alpha = natural[:, 3:4]
        return alpha, (natural[:, 4:5] if self.n_params == 5 else alpha)

    def natural_value(self, natural: Array, n_params: Array, tokens: Array) -> Array:
        """L = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022, eq. 2) for each row of natural
        parameters (M, P) at that row's own N and D (M, q)."""
        big_e, big_a, big_b = (natural[:, i : i + 1] for i in range(3))
        alpha, beta = self.exponents(natural)
        return big_e + big_a / n_params**alpha + big_b / tokens**beta

    def optimal_split(self, natural: Array) -> tuple[Array, Array]:
        """log G and a of each row of natural parameters (M,): for C = k N D the loss is least at
        N_opt = G (C/k)^a, D_opt = (C/k) / N_opt = G^-1 (C/k)^b, with G = (alpha A / (beta B))^(1/(alpha+beta)),
        a = beta/(alpha+beta), b = alpha/(alpha+beta) (Hoffmann et al. 2022, eq. 4).

        Derivation: on C = k N D, dL/dN = -alpha A N^(-alpha-1) + beta B (C/k)^-beta N^(beta-1) = 0
        gives N^(alpha+beta) = (alpha A / (beta B)) (C/k)^beta.
        """
        big_a, big_b = natural[:, 1], natural[:, 2]
        alpha, beta = (column[:, 0] for column in self.exponents(natural))
        # A draw whose A or B underflowed to 0 has no interior optimum: its log G is infinite, which the
        # allocation treats as "no optimum" (it tests finiteness), so the division warning is expected.
        with np.errstate(divide="ignore", invalid="ignore"):
            log_g = (np.log(alpha * big_a) - np.log(beta * big_b)) / (alpha + beta)
        return log_g, beta / (alpha + beta)


@dataclass(frozen=True)
class Chinchilla(ChinchillaForm):
    """L = E + A/N^alpha + B/D^beta; raw theta = (a, b, e, alpha, beta)."""

    def log_predict(self, theta: Array, logx: Array) -> tuple[Array, Array]:
        a, b, e, alpha, beta = (theta[:, i : i + 1] for i in range(5))
        log_n, log_d = logx[0][None, :], logx[1][None, :]
        value, (p_n, p_d, p_e) = softmax_lse(a - alpha * log_n, b - beta * log_d, e + 0.0 * log_n)
        jac = np.stack([p_n, p_d, p_e, -p_n * log_n, -p_d * log_d], axis=1)
        return value, jac

    def log_value(self, theta: Array, logx: Array) -> Array:
        a, b, e, alpha, beta = (theta[:, i : i + 1] for i in range(5))
        log_n, log_d = logx[0][None, :], logx[1][None, :]
        return lse(a - alpha * log_n, b - beta * log_d, e + 0.0 * log_n)

    def grid(self) -> Array:
        return product_grid(_LOG_SCALE, _LOG_SCALE, _LOG_E, _EXPONENTS, _EXPONENTS)


@dataclass(frozen=True)
class ChinchillaEqual(ChinchillaForm):
    """L = E + A/N^alpha + B/D^alpha; raw theta = (a, b, e, alpha)."""

    def log_predict(self, theta: Array, logx: Array) -> tuple[Array, Array]:
        a, b, e, alpha = (theta[:, i : i + 1] for i in range(4))
        log_n, log_d = logx[0][None, :], logx[1][None, :]
        value, (p_n, p_d, p_e) = softmax_lse(a - alpha * log_n, b - alpha * log_d, e + 0.0 * log_n)
        jac = np.stack([p_n, p_d, p_e, -p_n * log_n - p_d * log_d], axis=1)
        return value, jac

    def log_value(self, theta: Array, logx: Array) -> Array:
        a, b, e, alpha = (theta[:, i : i + 1] for i in range(4))
        log_n, log_d = logx[0][None, :], logx[1][None, :]
        return lse(a - alpha * log_n, b - alpha * log_d, e + 0.0 * log_n)

    def grid(self) -> Array:
        return product_grid(_LOG_SCALE, _LOG_SCALE, _LOG_E, _EXPONENTS)


CHINCHILLA = Chinchilla(
    name="chinchilla",
    inputs=("N", "D"),
    param_names=("E", "A", "B", "alpha", "beta"),
    raw_names=("a", "b", "e", "alpha", "beta"),
    lower=(_BOUND_LOG_SCALE[0], _BOUND_LOG_SCALE[0], _BOUND_LOG_E[0], _BOUND_EXPONENT[0], _BOUND_EXPONENT[0]),
    upper=(_BOUND_LOG_SCALE[1], _BOUND_LOG_SCALE[1], _BOUND_LOG_E[1], _BOUND_EXPONENT[1], _BOUND_EXPONENT[1]),
    description="L = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022, approach 3)",
    log_params=(0, 1, 2),
)

CHINCHILLA_EQUAL = ChinchillaEqual(
    name="chinchilla_equal",
    inputs=("N", "D"),
    param_names=("E", "A", "B", "alpha"),
    raw_names=("a", "b", "e", "alpha"),
    lower=(_BOUND_LOG_SCALE[0], _BOUND_LOG_SCALE[0], _BOUND_LOG_E[0], _BOUND_EXPONENT[0]),
    upper=(_BOUND_LOG_SCALE[1], _BOUND_LOG_SCALE[1], _BOUND_LOG_E[1], _BOUND_EXPONENT[1]),
    description="L = E + A/N^alpha + B/D^alpha (equal exponents; Gadre et al. 2024)",
    log_params=(0, 1, 2),
)
