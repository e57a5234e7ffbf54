"""Hyperparameter laws: the bowl of final loss around the best learning rate and batch size of
one sweep, and the power laws that carry those optima across scales.

Bowl: log L = c0 + c1 u + c2 u^2 (one swept axis) or the full quadratic in (u, v) (two axes),
u = standardised log LR, v = standardised log B. The Step Law paper reports the loss landscape
in (log LR, log B) as convex with a broad basin (Li et al. 2025, sec. 3); a quadratic near the
minimum is its second-order model, and its stationary point estimates the optimum.

Optimum forms are linear in log space, log y = log a + sum_k e_k log x_k:
    Step Law (Li et al. 2025):      LR_opt = a N^b D^c,  B_opt = a D^c   (N non-embedding, B in tokens)
    DeepSeek LLM (Bi et al. 2024, eq. 1): LR_opt = a C^b, B_opt = a C^b (C compute in FLOPs)
    tokens (μP, Yang et al. 2022):  LR_opt = a D^c,  B_opt = a D^c   (no N: under μP the LR tuned
                                    at the base width transfers across width, so only D moves it)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitting.laws.base import Array, Law, exp_columns, log_columns


def bowl_features(logx: Array, cubic: bool = False) -> Array:
    """Quadratic design (P, n): (1, u, u^2) or (1, u, v, u^2, uv, v^2); cubic: then u^3, or
    u^3, u^2 v, u v^2, v^3."""
    ones = np.ones_like(logx[0])
    if logx.shape[0] == 1:
        u = logx[0]
        return np.stack([ones, u, u * u, *([u**3] if cubic else [])])
    u, v = logx
    extra = [u**3, u * u * v, u * v * v, v**3] if cubic else []
    return np.stack([ones, u, v, u * u, u * v, v * v, *extra])


@dataclass(frozen=True)
class Bowl(Law):
    """A quadratic (cubic: with the third-order terms) in standardised log hyperparameters; linear
    in its raw parameters."""

    cubic: bool = False

    def log_predict(self, theta: Array, logx: Array) -> tuple[Array, Array]:
        features = bowl_features(logx, self.cubic)
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


# The asymmetric bowls: a learning-rate landscape rises faster above its optimum (towards
# divergence) than below it, and a symmetric quadratic over a window of runs then puts its vertex
# on the shallow, low-LR side. The third-order terms model that skew; the optimum is the cubic's
# local minimum.
BOWL_1D_CUBIC = Bowl(
    name="bowl_1d_cubic",
    inputs=("u",),
    param_names=("c0", "c1", "c2", "c3"),
    raw_names=("c0", "c1", "c2", "c3"),
    lower=(-1e3,) * 4,
    upper=(1e3,) * 4,
    description="log L = c0 + c1 u + c2 u^2 + c3 u^3, u standardised log LR (or log B)",
    cubic=True,
)
BOWL_2D_CUBIC = Bowl(
    name="bowl_2d_cubic",
    inputs=("u", "v"),
    param_names=tuple(f"c{i}" for i in range(10)),
    raw_names=tuple(f"c{i}" for i in range(10)),
    lower=(-1e3,) * 10,
    upper=(1e3,) * 10,
    description="the quadratic in (u, v) plus c6 u^3 + c7 u^2 v + c8 u v^2 + c9 v^3",
    cubic=True,
)
_NEWTON_STEPS = 30  # Newton iterations for the 2-D cubic's minimum, from the quadratic part's


def bowl_minimum(coefficients: Array) -> tuple[Array, Array]:
    """Stationary points (M, k) of bowls (M, P) and whether each is a minimum (positive curvature).

    Cubic bowls (P = 4 or 10): the local minimum of the cubic, found from the quadratic part's."""
    c = np.atleast_2d(coefficients)
    if c.shape[1] == 4:
        return _cubic_1d_minimum(c)
    if c.shape[1] == 10:
        return _cubic_2d_minimum(c)
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


def _cubic_1d_minimum(c: Array) -> tuple[Array, Array]:
    """Local minimum of c0 + c1 u + c2 u^2 + c3 u^3: the root of c1 + 2 c2 u + 3 c3 u^2 where the
    second derivative 2 c2 + 6 c3 u is positive, -2 c1 / (2 c2 + sqrt(disc)) (stable as c3 -> 0)."""
    disc = 4.0 * c[:, 2] ** 2 - 12.0 * c[:, 1] * c[:, 3]
    root = np.sqrt(np.maximum(disc, 0.0))
    denominator = 2.0 * c[:, 2] + root
    ok = (disc > 0) & (denominator > 0)
    return (-2.0 * c[:, 1] / np.where(ok, denominator, 1.0))[:, None], ok


def _cubic_2d_minimum(c: Array) -> tuple[Array, Array]:
    """Local minimum of the 2-D cubic by Newton's method from its quadratic part's minimum; a
    minimum where the gradient vanishes and the Hessian is positive definite there."""
    point, ok = bowl_minimum(c[:, :6])
    u, v = np.where(ok, point[:, 0], 0.0), np.where(ok, point[:, 1], 0.0)
    for _ in range(_NEWTON_STEPS):
        gu, gv, huu, huv, hvv = _cubic_2d_derivatives(c, u, v)
        det = huu * hvv - huv * huv
        safe = np.where(np.abs(det) > 1e-300, det, 1.0)
        u, v = u - (hvv * gu - huv * gv) / safe, v - (huu * gv - huv * gu) / safe
        u, v = np.clip(u, -1e3, 1e3), np.clip(v, -1e3, 1e3)
    gu, gv, huu, huv, hvv = _cubic_2d_derivatives(c, u, v)
    scale = 1e-8 * (1.0 + np.abs(c[:, 1:]).max(axis=1))
    ok = (np.hypot(gu, gv) <= scale) & (huu > 0) & (huu * hvv - huv * huv > 0)
    return np.stack([u, v], axis=1), ok


def _cubic_2d_derivatives(c: Array, u: Array, v: Array) -> tuple[Array, ...]:
    """Gradient (gu, gv) and Hessian (huu, huv, hvv) of the 2-D cubic bowl at (u, v)."""
    gu = c[:, 1] + 2 * c[:, 3] * u + c[:, 4] * v + 3 * c[:, 6] * u * u + 2 * c[:, 7] * u * v + c[:, 8] * v * v
    gv = c[:, 2] + c[:, 4] * u + 2 * c[:, 5] * v + c[:, 7] * u * u + 2 * c[:, 8] * u * v + 3 * c[:, 9] * v * v
    huu = 2 * c[:, 3] + 6 * c[:, 6] * u + 2 * c[:, 7] * v
    huv = c[:, 4] + 2 * c[:, 7] * u + 2 * c[:, 8] * v
    hvv = 2 * c[:, 5] + 2 * c[:, 8] * u + 6 * c[:, 9] * v
    return gu, gv, huu, huv, hvv


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
    # Under μP the optimal LR is (to leading order) independent of width (Yang et al. 2022, "Tensor
    # Programs V", §3 and Fig. 1), so N leaves the law and the LR tuned at the base width is fitted
    # against tokens alone; Step Law's D exponent is the same term (Li et al. 2025).
    ("lr_opt", "tokens"): OptimumForm(
        "tokens",
        "lr_opt",
        ("D",),
        ("a", "c"),
        "LR_opt = a D^c (μP: the LR at the base width, transferred across width)",
        "Yang et al. 2022 (μP, Tensor Programs V); Li et al. 2025 (D exponent)",
    ),
    ("batch_opt", "tokens"): OptimumForm(
        "tokens", "batch_opt", ("D",), ("a", "c"), "B_opt = a D^c (tokens)", "Li et al. 2025 (Step Law)"
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
