"""A decoder-only transformer in the shape of karpathy/nanoGPT's model.py.

Pre-norm blocks (LayerNorm without bias), causal scaled-dot-product attention, a GELU or SwiGLU
MLP, learned absolute position embeddings, tied or untied output head, no biases and no dropout
(proxy pre-training runs see each token about once, so dropout only slows them down).
trainer.accounting counts this model's parameters and FLOPs from the spec; a test keeps the two
equal.
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
        )


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, channels = x.shape
        q, k, v = self.qkv(x).split(channels, dim=2)
        shape = (batch, time, self.n_head, channels // self.n_head)
        q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
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
        if targets is None:
            return logits
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
