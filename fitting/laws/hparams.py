"""Hyperparameter laws: the bowl of final loss around the best learning rate and batch size of
one sweep, and the power laws that carry those optima across scales.

Bowl: log L = c0 + c1 u + c2 u^2 (one swept axis) or the full quadratic in (u, v) (two axes),
u = standardised log LR, v = standardised log B. The Step Law paper reports the loss landscape
in (log LR, log B) as convex with a broad basin (Li et al. 2025, sec. 3); a quadratic near the
minimum is its second-order model, and its stationary point estimates the optimum.

Optimum forms are linear in log space, log y = log a + sum_k e_k log x_k:
    Step Law (Li et al. 2025):      LR_opt = a N^b D^c,  B_opt = a D^c   (N non-embedding, B in tokens)
    DeepSeek LLM (Bi et al. 2024, eq. 1): LR_opt = a C^b, B_opt = a C^b (C compute in FLOPs)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitting.laws.base import Array, Law, exp_columns, log_columns


def bowl_features(logx: Array) -> Array:
    """Quadratic design (P, n): (1, u, u^2) or (1, u, v, u^2, uv, v^2)."""
    ones = np.ones_like(logx[0])
    if logx.shape[0] == 1:
        u = logx[0]
        return np.stack([ones, u, u * u])
    u, v = logx
    return np.stack([ones, u, v, u * u, u * v, v * v])


@dataclass(frozen=True)
class Bowl(Law):
    """A quadratic in standardised log hyperparameters; linear in its raw parameters."""

    def log_predict(self, theta: Array, logx: Array) -> tuple[Array, Array]:
        features = bowl_features(logx)
        value = theta @ features
        # The solver writes into the Jacobian, so it gets its own copy per problem.
        return value, np.repeat(features[None], theta.shape[0], axis=0)

    def grid(self) -> Array:
        return np.zeros((1, self.n_params))


# Coefficients act on standardised inputs and log losses of order one; the box only guards
# the solver against runaway steps.
BOWL_1D = Bowl(
    name="bowl_1d",
    inputs=("u",),
    param_names=("c0", "c1", "c2"),
    raw_names=("c0", "c1", "c2"),
    lower=(-1e3,) * 3,
    upper=(1e3,) * 3,
    description="log L = c0 + c1 u + c2 u^2, u standardised log LR (or log B)",
)
BOWL_2D = Bowl(
    name="bowl_2d",
    inputs=("u", "v"),
    param_names=("c0", "c1", "c2", "c3", "c4", "c5"),
    raw_names=("c0", "c1", "c2", "c3", "c4", "c5"),
    lower=(-1e3,) * 6,
    upper=(1e3,) * 6,
    description="log L = c0 + c1 u + c2 v + c3 u^2 + c4 u v + c5 v^2 over standardised log LR, log B",
)


def bowl_minimum(coefficients: Array) -> tuple[Array, Array]:
    """Stationary points (M, k) of bowls (M, P) and whether each is a minimum (positive curvature)."""
    c = np.atleast_2d(coefficients)
    if c.shape[1] == 3:
        curvature = 2.0 * c[:, 2]
        ok = curvature > 0
        return (-c[:, 1] / np.where(ok, curvature, 1.0))[:, None], ok
    # Gradient (c1 + 2 c3 u + c4 v, c2 + c4 u + 2 c5 v) = 0; Hessian [[2c3, c4], [c4, 2c5]].
    h11, h12, h22 = 2.0 * c[:, 3], c[:, 4], 2.0 * c[:, 5]
    det = h11 * h22 - h12 * h12
    ok = (h11 > 0) & (det > 0)
    safe = np.where(ok, det, 1.0)
    u = (-c[:, 1] * h22 + c[:, 2] * h12) / safe
    v = (-c[:, 2] * h11 + c[:, 1] * h12) / safe
    return np.stack([u, v], axis=1), ok


_INTERCEPT = (0,)  # log a, the one coefficient of an optimum form fitted on the log scale


@dataclass(frozen=True)
class OptimumForm:
    """A power law of a hyperparameter optimum, log y = log a + sum_k exponent_k log input_k."""

    name: str  # "steplaw" or "deepseek"
    target: str  # "lr_opt" or "batch_opt"
    inputs: tuple[str, ...]  # the inputs whose logs enter the design, in order
    param_names: tuple[str, ...]  # ("a", exponent names...)
    formula: str
    source: str

    def design(self, logx: Array) -> Array:
        """Design matrix (n, P): a column of ones, then the log inputs."""
        return np.column_stack([np.ones(logx.shape[1]), *logx])

    def to_natural(self, beta: Array) -> Array:
        """Regression coefficients (..., P) to (a, exponents...): a = exp(intercept)."""
        # A degenerate bootstrap draw (a sweep set whose log-optima barely vary with scale) can put
        # the intercept past e^709: its a is then inf, and the percentile interval says how wide.
        with np.errstate(over="ignore"):
            return exp_columns(beta, _INTERCEPT)

    def from_natural(self, params: Array) -> Array:
        """(a, exponents...) back to regression coefficients: the inverse of to_natural."""
        return log_columns(params, _INTERCEPT)


OPTIMUM_FORMS: dict[tuple[str, str], OptimumForm] = {
    ("lr_opt", "steplaw"): OptimumForm(
        "steplaw", "lr_opt", ("N", "D"), ("a", "b", "c"), "LR_opt = a N^b D^c", "Li et al. 2025 (Step Law)"
    ),
    ("batch_opt", "steplaw"): OptimumForm(
        "steplaw", "batch_opt", ("D",), ("a", "c"), "B_opt = a D^c (tokens)", "Li et al. 2025 (Step Law)"
    ),
    ("lr_opt", "deepseek"): OptimumForm(
        "deepseek", "lr_opt", ("C",), ("a", "b"), "LR_opt = a C^b", "Bi et al. 2024 (DeepSeek LLM), eq. 1"
    ),
    ("batch_opt", "deepseek"): OptimumForm(
        "deepseek",
        "batch_opt",
        ("C",),
        ("a", "b"),
        "B_opt = a C^b (tokens)",
        "Bi et al. 2024 (DeepSeek LLM), eq. 1",
    ),
}
