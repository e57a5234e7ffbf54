"""Published priors a plan is centred on: the compute-optimal model size, and the optimal LR and
batch size as functions of compute. The laws a study fits replace them; these only place the grids.
"""

from __future__ import annotations

import math

# Hoffmann et al. 2022 (Table 3, approach 1-3 agree): compute-optimal training uses about 20 tokens per
# parameter, so C = 6·N·D = 120·N² gives the prior N_opt(C) = sqrt(C / 120).
TOKENS_PER_PARAM = 20.0
# DeepSeek LLM 2024 (§3.1, eq. 1), fitted on C in 1e17..3e20: eta_opt = 0.3118·C^-0.1250 and
# B_opt = 0.2920·C^0.3271 tokens, with C = M·D and M = 72·n_layer·d² + 6·n_layer·l_seq·d, which is
# trainer.accounting's `kaplan` FLOPs per token for the GELU MLP.
LR_PRIOR = (0.3118, -0.1250)
BATCH_PRIOR = (0.2920, 0.3271)
# The fits extrapolate badly to tiny models (below 1e15 FLOPs the LR prior exceeds 1e-2): the
# centre is clipped to LRs AdamW-trained small GPTs use (nanoGPT 6e-4 .. 1e-3; the grid then spans
# factors of AXIS_FACTOR, app/plan/design.py, either side).
LR_RANGE = (1e-4, 1e-2)


def compute_optimal_params(flops: float) -> float:
    """N_opt(C) = sqrt(C / (6·20)): C = 6·N·D with D = 20·N (Hoffmann et al. 2022)."""
    return math.sqrt(flops / (6.0 * TOKENS_PER_PARAM))


def prior_lr(flops: float) -> float:
    """DeepSeek LLM 2024's eta_opt(C), clipped to LR_RANGE."""
    lo, hi = LR_RANGE
    return min(hi, max(lo, LR_PRIOR[0] * flops ** LR_PRIOR[1]))


def prior_batch_tokens(flops: float) -> float:
    """DeepSeek LLM 2024's B_opt(C) in tokens (unrounded, unclipped)."""
    return BATCH_PRIOR[0] * flops ** BATCH_PRIOR[1]
