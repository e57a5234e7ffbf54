"""A decoder-only transformer in the shape of karpathy/nanoGPT's model.py.

Pre-norm blocks (LayerNorm without bias), causal scaled-dot-product attention (optionally with
qk-layernorm), a GELU or SwiGLU MLP, learned absolute position embeddings, tied or untied output
head, no biases and no dropout (proxy pre-training runs see each token about once, so dropout only
slows them down).
trainer.accounting counts this model's parameters and FLOPs from the spec; a test keeps the two
equal.

Two parametrizations. "sp" is GPT-2's (init std 0.02, attention scores by 1/sqrt(d_head), one LR).
"mup" is the maximal-update parametrization for Adam (Yang et al. 2022, "Tensor Programs V",
Table 3 and its Table 8 "MuReadout" form): relative to a base width at which it equals sp, hidden
matrices' init std scales by sqrt(base/width) and their Adam LR by base/width (`lr_scales`), the
logits are multiplied by base/width, attention scores scale as 1/d_head, and embeddings and norms
are unscaled (trainer.loop keeps hidden matrices' per-step weight decay lr·wd as at the base).
Under mup the optimal LR tuned at the base width is meant to hold at other widths (bench.lr_transfer
checks it); depth is not covered: the rules hold at a fixed number of layers. The output multiplier
alpha_output (RunSpec.output_multiplier, 1 by default) multiplies the logits under either
parametrization; under mup it is its value at the base width, where Tensor Programs V tunes it with
the LR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from trainer.accounting import mlp_hidden
from trainer.spec import RunSpec

# Initialisation std 0.02 for all matrices and embeddings, as GPT-2 and nanoGPT.
_INIT_STD = 0.02


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    seq_len: int
    n_layer: int
    d_model: int
    n_head: int
    mlp: str = "gelu"
    tied_embeddings: bool = True
    parametrization: str = "sp"
    base_d_model: int | None = None  # mup's base width; None: d_model itself
    output_multiplier: float = 1.0  # alpha_output: the logits' multiplier (at the base width under mup)
    qk_norm: bool = False  # LayerNorm on each head's queries and keys

    @classmethod
    def from_spec(cls, spec: RunSpec) -> GPTConfig:
        return cls(
            vocab_size=spec.vocab,
            seq_len=spec.seq_len,
            n_layer=spec.n_layer,
            d_model=spec.d_model,
            n_head=spec.n_head,
            mlp=spec.mlp,
            tied_embeddings=spec.tied_embeddings,
            parametrization=spec.parametrization,
            base_d_model=spec.base_d_model,
            output_multiplier=spec.output_multiplier,
            qk_norm=spec.qk_norm,
        )

    @property
    def mup(self) -> bool:
        return self.parametrization == "mup"

    @property
    def base_width(self) -> int:
        return self.base_d_model if self.base_d_model is not None else self.d_model

    @property
    def width_ratio(self) -> float:
        """base / width under mup (the factor of hidden LRs and of the logits); 1.0 under sp."""
        return self.base_width / self.d_model if self.mup else 1.0

    @property
    def logit_scale(self) -> float:
        """The factor of the readout's logits: alpha_output, times base/width under mup (Tensor
        Programs V, Table 8: the readout's 1/fan_in multiplier; its output multiplier alpha_output
        is one of the hyperparameters tuned at the base width with the LR and transferred)."""
        return self.output_multiplier * self.width_ratio

    @property
    def attention_scale(self) -> float | None:
        """The factor of q·k: None (sdpa's 1/sqrt(d_head)) under sp. Under mup 1/d_head times
        sqrt(base d_head), so it equals sp's at the base width. Tensor Programs V's μP for
        Transformers computes attention logits as q·k/d, not q·k/sqrt(d): once trained, q and k
        are correlated and q·k grows like d_head, not sqrt(d_head)."""
        if not self.mup:
            return None
        d_head = self.d_model / self.n_head
        return math.sqrt(self.base_width / self.n_head) / d_head


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.scale = config.attention_scale
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=False)
        # qk-layernorm (Dehghani et al. 2023, "Scaling Vision Transformers to 22 Billion Parameters";
        # Wortsman et al. 2023, "Small-scale proxies for large-scale Transformer training
        # instabilities", §3.1): queries and keys normalised per head, one gain vector of d_head
        # shared by the heads, so attention logits cannot grow without bound at a high LR (the
        # entropy collapse that stalls a run). Off: no module, so sp runs stay bit-identical.
        d_head = config.d_model // config.n_head
        self.q_norm = nn.LayerNorm(d_head, bias=False) if config.qk_norm else None
        self.k_norm = nn.LayerNorm(d_head, bias=False) if config.qk_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, channels = x.shape
        q, k, v = self.qkv(x).split(channels, dim=2)
        shape = (batch, time, self.n_head, channels // self.n_head)
        q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))
        if self.q_norm is not None and self.k_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if self.scale is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        return self.proj(y.transpose(1, 2).contiguous().view(batch, time, channels))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        hidden = mlp_hidden(config.d_model, config.mlp)
        self.swiglu = config.mlp == "swiglu"
        # SwiGLU's gate and value matrices are one Linear for one matmul (Shazeer 2020).
        self.up = nn.Linear(config.d_model, (2 if self.swiglu else 1) * hidden, bias=False)
        self.down = nn.Linear(hidden, config.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.up(x)
        if self.swiglu:
            gate, value = h.chunk(2, dim=-1)
            h = F.silu(gate) * value
        else:
            h = F.gelu(h)
        return self.down(h)


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model, bias=False)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model, bias=False)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.d_model)
        self.wpe = nn.Embedding(config.seq_len, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model, bias=False)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tied_embeddings:
            # Weight tying (Press & Wolf 2017), as GPT-2 and nanoGPT.
            self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        # Residual projections scaled by 1/sqrt(2 n_layer) so the residual stream's variance does
        # not grow with depth (GPT-2 paper, Radford et al. 2019, §2.3; nanoGPT c_proj init).
        residual_std = _INIT_STD / math.sqrt(2 * config.n_layer)
        for block in self.blocks:
            nn.init.normal_(block.attn.proj.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.mlp.down.weight, mean=0.0, std=residual_std)
        if config.mup:
            # mup, hidden weights: init variance ∝ 1/fan_in (Tensor Programs V, Table 3, "hidden
            # weights" init Var 1/fan_in), i.e. sp's std × sqrt(base/width), equal to sp at the
            # base width (the same draws, rescaled, so mup at its base width is sp). Embeddings
            # ("input weights", init Var constant) and the readout in the Table 8 form (init as at
            # the base width, multiplier 1/fan_in) keep 0.02.
            with torch.no_grad():
                for weight in self.hidden_matrices():
                    weight.mul_(math.sqrt(config.width_ratio))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=_INIT_STD)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (batch, time, vocab) without targets; the mean cross-entropy (nats) with them."""
        time = idx.shape[1]
        pos = torch.arange(time, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        # mup readout: logits × base/width (Tensor Programs V, Table 8, output multiplier 1/fan_in
        # with the weight's init and Adam LR as at the base width), so the update's contribution
        # to the logits, which sums over width correlated terms, stays O(1); times alpha_output.
        # sp with alpha_output 1 multiplies by nothing, so its runs stay bit-identical.
        scale = self.config.logit_scale
        if self.config.mup or scale != 1.0:
            logits = logits * scale
        if targets is None:
            return logits
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))

    def hidden_matrices(self) -> list[nn.Parameter]:
        """The weights with both dimensions proportional to width (attention and MLP matrices):
        the "hidden weights" whose Adam LR mup scales by base/width."""
        return [
            p
            for block in self.blocks
            for p in (
                block.attn.qkv.weight,
                block.attn.proj.weight,
                block.mlp.up.weight,
                block.mlp.down.weight,
            )
        ]

    def lr_scales(self) -> list[tuple[list[nn.Parameter], float]]:
        """Parameters by their factor on the spec's LR. sp: one group at 1.0. mup (Tensor Programs V,
        Table 3, Adam column): hidden weights base/width ("hidden weights" LR 1/fan_in); embeddings
        ("input weights" LR constant), the readout (Table 8: LR constant with the 1/fan_in output
        multiplier) and norm gains (vectors, "input weights" class) 1.0."""
        params = [p for p in self.parameters() if p.requires_grad]
        if not self.config.mup:
            return [(params, 1.0)]
        hidden = {id(p) for p in self.hidden_matrices()}
        return [
            ([p for p in params if id(p) in hidden], self.config.width_ratio),
            ([p for p in params if id(p) not in hidden], 1.0),
        ]

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
