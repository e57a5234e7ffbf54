"""The shape every loss law shares: log-space parameters, a batched log-prediction with its
Jacobian, an initialisation grid and box bounds.

Laws are fitted in log space (Hoffmann et al. 2022, approach 3): the solver sees raw
parameters ``theta`` (logs of the scale constants, exponents as they are) and compares
``log_predict(theta, X)`` with ``log(loss)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Law:
    """A loss law L(inputs; params) fitted as log L = f(theta, log inputs).

    Subclasses implement ``log_predict`` (batched over problems) and ``grid``. The natural
    parameters (what users read, in ``param_names`` order) are the raw ones (what the solver moves,
    in ``raw_names`` order) with the ``log_params`` read back from the log scale; a natural name is
    its raw name up to case (raw "a" is log A, "n_c" is log N_c).
    """

    name: str
    inputs: tuple[str, ...]
    param_names: tuple[str, ...]
    raw_names: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    description: str = ""
    # Raw-parameter indices that hold the log of their natural parameter.
    log_params: tuple[int, ...] = field(default=())

    @property
    def n_params(self) -> int:
        return len(self.raw_names)

    def log_predict(self, theta: Array, logx: Array) -> tuple[Array, Array]:
        """Return log L of shape (M, n) and its Jacobian laid out as (M, P, n).

        theta: (M, P) raw parameters, one row per problem; logx: (k, n) log inputs.
        """
        raise NotImplementedError

    def log_value(self, theta: Array, logx: Array) -> Array:
        """log L of shape (M, n) without the Jacobian: what predictions need."""
        return self.log_predict(theta, logx)[0]

    @cached_property
    def natural_order(self) -> tuple[int, ...]:
        """The raw index of each natural parameter, matched by name up to case."""
        raw = [name.lower() for name in self.raw_names]
        order = tuple(raw.index(name.lower()) for name in self.param_names)
        assert sorted(order) == list(range(self.n_params)), f"{self.name}: natural and raw names must pair up"
        return order

    @cached_property
    def natural_log_columns(self) -> tuple[int, ...]:
        """Positions, in natural order, of the parameters fitted as their logs."""
        return tuple(i for i, raw in enumerate(self.natural_order) if raw in self.log_params)

    def to_natural(self, theta: Array) -> Array:
        """Raw parameters (..., P) to natural ones (..., P), in ``param_names`` order."""
        return exp_columns(np.asarray(theta, dtype=float)[..., self.natural_order], self.natural_log_columns)

    def from_natural(self, params: Array) -> Array:
        """Natural parameters (..., P) back to raw ones: the inverse of to_natural."""
        natural = log_columns(np.asarray(params, dtype=float), self.natural_log_columns)
        raw = np.empty_like(natural)
        raw[..., self.natural_order] = natural
        return raw

    def grid(self) -> Array:
        """Initialisation grid (S, P) of raw parameters for the multi-start search."""
        raise NotImplementedError

    def optimal_split(self, natural: Array) -> tuple[Array, Array] | None:
        """The compute-optimal allocation under C = k N D in closed form, where the law has one:
        log G and a per row of natural parameters (M, P), N_opt = G (C/k)^a. None: there is none,
        and the optimum is found numerically."""
        return None

    def natural_value(self, natural: Array, n_params: Array, tokens: Array) -> Array:
        """L per row of natural parameters (M, P) at that row's own inputs (M, q), for laws with a
        closed-form optimum (evaluated as written, not through the log-space form)."""
        raise NotImplementedError

    def log_scale(self, logx: Array) -> Array:
        """Log of each run's scale, (k, n) -> (n,), used to pick the held-out largest runs.

        The default is the product of the inputs: proportional to compute 6ND for N, D laws.
        """
        return np.sum(logx, axis=0)


def exp_columns(values: Array, columns: tuple[int, ...]) -> Array:
    """A copy of values (..., P) with exp taken of the given last-axis columns."""
    out = np.array(values, dtype=float, copy=True)
    for column in columns:
        out[..., column] = np.exp(out[..., column])
    return out


def log_columns(values: Array, columns: tuple[int, ...]) -> Array:
    """A copy of values (..., P) with log taken of the given last-axis columns: exp_columns' inverse."""
    out = np.array(values, dtype=float, copy=True)
    for column in columns:
        out[..., column] = np.log(out[..., column])
    return out


def softmax_lse(*terms: Array) -> tuple[Array, list[Array]]:
    """Log-sum-exp of a few same-shaped arrays and the softmax weights (its gradient), computed
    stably; separate arrays rather than a stacked axis, because reductions over a short last
    axis are several times slower in numpy."""
    peak = terms[0]
    for term in terms[1:]:
        peak = np.maximum(peak, term)
    expd = [np.exp(term - peak) for term in terms]
    total = expd[0]
    for value in expd[1:]:
        total = total + value
    inverse = 1.0 / total
    return peak + np.log(total), [value * inverse for value in expd]


def lse(*terms: Array) -> Array:
    """Log-sum-exp of a few same-shaped arrays, stably, without the softmax weights."""
    peak = terms[0]
    for term in terms[1:]:
        peak = np.maximum(peak, term)
    total = np.exp(terms[0] - peak)
    for term in terms[1:]:
        total += np.exp(term - peak)
    return peak + np.log(total)


def product_grid(*axes: list[float] | Array) -> Array:
    """Cartesian product of 1-D axes as an (S, len(axes)) array."""
    mesh = np.meshgrid(*[np.asarray(a, dtype=float) for a in axes], indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)
