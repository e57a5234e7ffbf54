"""Training compute C ≈ 6ND: the one place fitting/ turns parameters and tokens into FLOPs."""

from __future__ import annotations

from typing import Any

import numpy as np

# Forward pass 2ND plus backward pass 4ND, embeddings and attention left out (Kaplan et al. 2020, sec. 2.1).
FLOPS_PER_PARAM_TOKEN = 6.0


def training_compute(n_params: Any, tokens: Any) -> Any:
    """Training FLOPs C ≈ 6ND of n_params parameters trained on tokens (floats or arrays, broadcast)."""
    # C ≈ 6ND training FLOPs (Kaplan et al. 2020, sec. 2.1).
    return FLOPS_PER_PARAM_TOKEN * np.asarray(n_params, dtype=float) * np.asarray(tokens, dtype=float)
