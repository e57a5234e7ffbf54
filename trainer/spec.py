"""RunSpec: everything that determines one proxy run, validated once, torch-free.

The API imports this module to accept and check run submissions, so it must not import torch.
Everything here is plain arithmetic on the spec: derived step counts, the resolved vocabulary
size and the data-source grammar.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

SCHEDULES = ("cosine", "wsd", "constant")
MLPS = ("gelu", "swiglu")

# Byte-level sources (pystdlib, text:PATH) read raw UTF-8 bytes: 256 symbols, no tokenizer to ship.
BYTE_VOCAB = 256

# synthetic:markov-<vocab>-<branching>; "synthetic:markov" is the default chain below.
_SYNTHETIC_RE = re.compile(r"^markov(?:-(\d+)-(\d+))?$")
_DEFAULT_MARKOV = (64, 4)
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class SyntheticSpec:
    """A sparse random Markov chain: `vocab` states, each with `branching` possible successors."""

    vocab: int
    branching: int


def parse_synthetic(name: str) -> SyntheticSpec:
    """Parse the part after `synthetic:`; ValueError with the accepted grammar otherwise."""
    match = _SYNTHETIC_RE.match(name)
    if match is None:
        raise ValueError(
            f"unknown synthetic source {name!r}: use 'synthetic:markov' or "
            "'synthetic:markov-<vocab>-<branching>', e.g. 'synthetic:markov-128-8'"
        )
    if match.group(1) is None:
        vocab, branching = _DEFAULT_MARKOV
    else:
        vocab, branching = int(match.group(1)), int(match.group(2))
    if not 2 <= vocab <= 65_536:
        raise ValueError(f"synthetic vocab ({vocab}) must be between 2 and 65536")
    if not 1 <= branching <= vocab:
        raise ValueError(f"synthetic branching ({branching}) must be between 1 and the vocab ({vocab})")
    return SyntheticSpec(vocab=vocab, branching=branching)


def data_kind(data: str) -> str:
    """'synthetic', 'pystdlib', 'text' or 'tokens' for a valid data string."""
    if data == "pystdlib":
        return "pystdlib"
    prefix, sep, _ = data.partition(":")
    if sep and prefix in ("synthetic", "text", "tokens"):
        return prefix
    raise ValueError(
        f"unknown data source {data!r}: use 'pystdlib', 'synthetic:markov[-V-K]', "
        "'text:PATH' or 'tokens:PATH'"
    )


@dataclass(frozen=True)
class RunSpec:
    """One proxy training run. Token counts are in tokens, not steps; steps are derived.

    Shape: n_layer, d_model, n_head (d_model divisible by n_head), seq_len, mlp ("gelu" or
    "swiglu"), tied_embeddings. Data: `data` is "pystdlib", "synthetic:markov[-V-K]",
    "text:PATH" or "tokens:PATH" (tokens needs vocab_size). Optimisation: AdamW with lr,
    betas, weight_decay, grad_clip (0 disables it), a warmup of warmup_tokens followed by the
    schedule; batch_tokens per optimizer step, split into micro-batches of micro_batch_tokens.
    """

    n_layer: int
    d_model: int
    n_head: int
    tokens: int
    batch_tokens: int
    lr: float
    seq_len: int = 256
    warmup_tokens: int | None = None
    schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    decay_fraction: float = 0.2
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    seed: int = 0
    data: str = "pystdlib"
    vocab_size: int | None = None
    mlp: str = "gelu"
    tied_embeddings: bool = True
    micro_batch_tokens: int | None = None
    eval_every_tokens: int | None = None
    eval_tokens: int | None = None
    log_every_steps: int = 1
    device: str = "auto"
    compile: bool = False

    def __post_init__(self) -> None:
        # Lists from JSON become tuples so the spec stays hashable and comparable.
        if isinstance(self.betas, list):
            object.__setattr__(self, "betas", tuple(self.betas))
        _validate(self)

    # ---- derived quantities (all pure arithmetic) ----

    @property
    def batch_size(self) -> int:
        """Sequences per optimizer step."""
        return self.batch_tokens // self.seq_len

    @property
    def micro_batch_size(self) -> int:
        """Sequences per forward/backward pass."""
        return (self.micro_batch_tokens or self.batch_tokens) // self.seq_len

    @property
    def grad_accum_steps(self) -> int:
        return self.batch_size // self.micro_batch_size

    @property
    def steps(self) -> int:
        """Optimizer steps: the whole batches that fit in `tokens`."""
        return self.tokens // self.batch_tokens

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len

    @property
    def warmup_steps(self) -> int:
        # Default warmup: 5% of training capped at 1000 steps; short linear warmups are the
        # nanoGPT/nanochat practice and Adam needs some warmup for its second-moment estimate
        # (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond").
        if self.warmup_tokens is None:
            return min(1000, max(1, round(0.05 * self.steps)))
        return min(self.steps, math.ceil(self.warmup_tokens / self.tokens_per_step))

    @property
    def eval_every_steps(self) -> int:
        # Default: 20 evaluations per run (plus one at the end), enough points for a curve while
        # keeping eval below ~2% of the compute (see eval_tokens_resolved).
        if self.eval_every_tokens is None:
            return max(1, self.steps // 20)
        return max(1, self.eval_every_tokens // self.tokens_per_step)

    @property
    def eval_tokens_resolved(self) -> int:
        # Default held-out size: tokens/400 between 8 sequences and 1M tokens. With 21 evals and a
        # forward pass costing 1/3 of a training step per token (Kaplan et al. 2020, §2.1:
        # backward = 2x forward), eval costs 21/(3*400) = 1.75% of training compute.
        if self.eval_tokens is not None:
            return self.eval_tokens
        return min(max(8 * self.seq_len, self.tokens // 400), 1 << 20)

    @property
    def vocab(self) -> int:
        """Vocabulary size: explicit vocab_size, else the data source's own."""
        if self.vocab_size is not None:
            return self.vocab_size
        kind = data_kind(self.data)
        if kind == "synthetic":
            return parse_synthetic(self.data.partition(":")[2]).vocab
        return BYTE_VOCAB

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown RunSpec fields {unknown}: known fields are {sorted(known)}")
        return cls(**values)


def _validate(spec: RunSpec) -> None:
    """Refuse a spec that cannot run, with a message that says what to change."""
    ints = {
        "n_layer": spec.n_layer,
        "d_model": spec.d_model,
        "n_head": spec.n_head,
        "seq_len": spec.seq_len,
        "tokens": spec.tokens,
        "batch_tokens": spec.batch_tokens,
        "log_every_steps": spec.log_every_steps,
    }
    for name, value in ints.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} ({value!r}) must be a positive integer")
    if spec.d_model % spec.n_head:
        raise ValueError(
            f"d_model ({spec.d_model}) is not divisible by n_head ({spec.n_head}): "
            "pick n_head that divides d_model"
        )
    if spec.batch_tokens < spec.seq_len:
        raise ValueError(
            f"batch_tokens ({spec.batch_tokens}) is less than one sequence (seq_len {spec.seq_len}): "
            "raise batch_tokens or lower seq_len"
        )
    if spec.batch_tokens % spec.seq_len:
        raise ValueError(
            f"batch_tokens ({spec.batch_tokens}) is not a multiple of seq_len ({spec.seq_len}): "
            f"use {spec.batch_size * spec.seq_len} or {(spec.batch_size + 1) * spec.seq_len}"
        )
    if spec.tokens < spec.batch_tokens:
        raise ValueError(
            f"tokens ({spec.tokens}) is less than one batch ({spec.batch_tokens} tokens): "
            "raise tokens or lower batch_tokens"
        )
    if spec.micro_batch_tokens is not None:
        mb = spec.micro_batch_tokens
        if isinstance(mb, bool) or not isinstance(mb, int) or mb < spec.seq_len or mb % spec.seq_len:
            raise ValueError(
                f"micro_batch_tokens ({mb!r}) must be a positive multiple of seq_len ({spec.seq_len})"
            )
        if spec.batch_size % (mb // spec.seq_len):
            raise ValueError(
                f"micro_batch_tokens ({mb}) must divide batch_tokens ({spec.batch_tokens}) "
                "into whole micro-batches"
            )
    if not (isinstance(spec.lr, int | float) and math.isfinite(spec.lr) and spec.lr > 0):
        raise ValueError(f"lr ({spec.lr!r}) must be a positive finite number")
    if spec.schedule not in SCHEDULES:
        raise ValueError(f"schedule {spec.schedule!r} is unknown: use one of {', '.join(SCHEDULES)}")
    if spec.mlp not in MLPS:
        raise ValueError(f"mlp {spec.mlp!r} is unknown: use one of {', '.join(MLPS)}")
    if not 0.0 <= spec.min_lr_ratio <= 1.0:
        raise ValueError(f"min_lr_ratio ({spec.min_lr_ratio}) must be in [0, 1]")
    if not 0.0 < spec.decay_fraction <= 1.0:
        raise ValueError(f"decay_fraction ({spec.decay_fraction}) must be in (0, 1]")
    if spec.weight_decay < 0:
        raise ValueError(f"weight_decay ({spec.weight_decay}) must be >= 0")
    if len(spec.betas) != 2 or not all(0.0 <= b < 1.0 for b in spec.betas):
        raise ValueError(f"betas ({spec.betas!r}) must be two numbers in [0, 1)")
    if spec.grad_clip < 0:
        raise ValueError(f"grad_clip ({spec.grad_clip}) must be >= 0 (0 disables clipping)")
    if spec.warmup_tokens is not None and spec.warmup_tokens < 0:
        raise ValueError(f"warmup_tokens ({spec.warmup_tokens}) must be >= 0")
    for name in ("eval_every_tokens", "eval_tokens"):
        value = getattr(spec, name)
        if value is not None and (not isinstance(value, int) or value < spec.seq_len):
            raise ValueError(
                f"{name} ({value!r}) must be an integer of at least one sequence ({spec.seq_len})"
            )
    if not _DEVICE_RE.match(spec.device):
        raise ValueError(f"device {spec.device!r} is unknown: use auto, cpu, mps, cuda or cuda:N")
    _validate_data(spec)


def _validate_data(spec: RunSpec) -> None:
    kind = data_kind(spec.data)
    rest = spec.data.partition(":")[2]
    if kind == "synthetic":
        synthetic = parse_synthetic(rest)
        if spec.vocab_size is not None and spec.vocab_size != synthetic.vocab:
            raise ValueError(
                f"vocab_size ({spec.vocab_size}) differs from the synthetic source's vocab "
                f"({synthetic.vocab}): "
                "leave vocab_size unset"
            )
    elif kind in ("text", "tokens"):
        path = Path(rest).expanduser()
        if not rest or not path.exists():
            raise ValueError(f"data file {rest!r} does not exist: give an existing path after '{kind}:'")
        if kind == "tokens":
            if path.is_dir():
                raise ValueError(f"tokens:{rest} is a folder: give one flat token file (.bin, .u32 or .npy)")
            if spec.vocab_size is None:
                raise ValueError(
                    f"data {spec.data!r} needs vocab_size: set it to the tokenizer's vocabulary size"
                )
        elif spec.vocab_size is not None and spec.vocab_size != BYTE_VOCAB:
            raise ValueError(
                f"text sources are byte-level (vocab 256): leave vocab_size unset, not {spec.vocab_size}"
            )
    elif spec.vocab_size is not None and spec.vocab_size != BYTE_VOCAB:
        raise ValueError(f"pystdlib is byte-level (vocab 256): leave vocab_size unset, not {spec.vocab_size}")
    if spec.vocab_size is not None and spec.vocab_size < 2:
        raise ValueError(f"vocab_size ({spec.vocab_size}) must be at least 2")
