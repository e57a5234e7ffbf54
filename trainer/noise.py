"""Gradient noise scale B_simple = tr(Sigma) / |G|^2 (McCandlish et al. 2018, "An Empirical Model
of Large-Batch Training", eq. 2.8), the critical-batch-size estimate in tokens.

Appendix A of that paper: the squared norm of a gradient averaged over B samples has expectation
E|G_B|^2 = |G|^2 + tr(Sigma) / B. Measuring it at two batch sizes B_small < B_big gives unbiased
estimates of both terms:

    |G|^2     ~= (B_big |G_big|^2 - B_small |G_small|^2) / (B_big - B_small)
    tr(Sigma) ~= (|G_small|^2 - |G_big|^2) / (1/B_small - 1/B_big)

Each single estimate is very noisy, and the ratio of two noisy estimates is biased, so (as the
paper recommends) both are smoothed separately with exponential moving averages and B_simple is
the ratio of the averages. Batch sizes here are in tokens, so B_simple is in tokens too (the unit
Kaplan et al. 2020 use for B_crit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# EMA decay per measurement: measurements come every eval (about 20 per run), so 0.5 averages
# over the last ~2-3 of them: smooth enough to remove the sign flips of single estimates while
# still following the growth of B_simple as the loss falls (McCandlish 2018 §3.2).
DEFAULT_DECAY = 0.5


def two_batch_estimates(
    small_sq_norm: float, small_tokens: int, big_sq_norm: float, big_tokens: int
) -> tuple[float, float]:
    """Unbiased (|G|^2, tr(Sigma)) from squared gradient norms at two batch sizes (App. A)."""
    if not 0 < small_tokens < big_tokens:
        raise ValueError(f"need 0 < small_tokens ({small_tokens}) < big_tokens ({big_tokens})")
    g_sq = (big_tokens * big_sq_norm - small_tokens * small_sq_norm) / (big_tokens - small_tokens)
    trace = (small_sq_norm - big_sq_norm) / (1.0 / small_tokens - 1.0 / big_tokens)
    return g_sq, trace


@dataclass
class NoiseScale:
    """Bias-corrected EMAs of |G|^2 and tr(Sigma); `value` is their ratio (None until defined)."""

    decay: float = DEFAULT_DECAY
    g_sq: float = 0.0
    trace: float = 0.0
    count: int = 0

    def update(
        self, small_sq_norm: float, small_tokens: int, big_sq_norm: float, big_tokens: int
    ) -> float | None:
        g_sq, trace = two_batch_estimates(small_sq_norm, small_tokens, big_sq_norm, big_tokens)
        if not (math.isfinite(g_sq) and math.isfinite(trace)):
            return self.value
        self.g_sq = self.decay * self.g_sq + (1 - self.decay) * g_sq
        self.trace = self.decay * self.trace + (1 - self.decay) * trace
        self.count += 1
        return self.value

    @property
    def value(self) -> float | None:
        if self.count == 0:
            return None
        # Adam-style bias correction of a zero-initialised EMA; it cancels in the ratio but is
        # kept so g_sq and trace are meaningful on their own.
        correction = 1 - self.decay**self.count
        g_sq, trace = self.g_sq / correction, self.trace / correction
        if g_sq <= 0:
            return None  # the gradient signal is below the noise: B_simple is not defined yet
        return trace / g_sq

    def state_dict(self) -> dict[str, float]:
        return {"decay": self.decay, "g_sq": self.g_sq, "trace": self.trace, "count": self.count}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.decay, self.g_sq, self.trace, self.count = (
            state["decay"],
            state["g_sq"],
            state["trace"],
            int(state["count"]),
        )
