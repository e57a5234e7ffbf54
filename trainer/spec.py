"""RunSpec: everything that determines one proxy run, validated once, torch-free.

The API imports this module to accept and check run submissions, so it must not import torch.
Everything here is plain arithmetic on the spec: derived step counts, the resolved vocabulary
size and the data-source grammar.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

SCHEDULES = ("cosine", "wsd", "constant")
MLPS = ("gelu", "swiglu")
# "sp": the standard parametrization (GPT-2 init, one LR for every matrix); "mup": the maximal-update
# parametrization (Yang et al. 2022, "Tensor Programs V"), whose optimal LR transfers across width.
PARAMETRIZATIONS = ("sp", "mup")

# Byte-level sources (pystdlib, text:PATH) read raw UTF-8 bytes: 256 symbols, no tokenizer to ship.
BYTE_VOCAB = 256

# synthetic:markov-<vocab>-<branching>; "synthetic:markov" is the default chain below.
_SYNTHETIC_RE = re.compile(r"^markov(?:-(\d+)-(\d+))?$")
_DEFAULT_MARKOV = (64, 4)
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class SpecError(ValueError):
    """A RunSpec that cannot run: the message says what to change, `field` names the field at fault."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SyntheticSpec:
    """A sparse random Markov chain: `vocab` states, each with `branching` possible successors."""

    vocab: int
    branching: int


def parse_synthetic(name: str) -> SyntheticSpec:
    """Parse the part after `synthetic:`; SpecError (field `data`) with the accepted grammar otherwise."""
    match = _SYNTHETIC_RE.match(name)
    if match is None:
        raise SpecError(
            f"unknown synthetic source {name!r}: use 'synthetic:markov' or "
            "'synthetic:markov-<vocab>-<branching>', e.g. 'synthetic:markov-128-8'",
            field="data",
        )
    if match.group(1) is None:
        vocab, branching = _DEFAULT_MARKOV
    else:
        vocab, branching = int(match.group(1)), int(match.group(2))
    if not 2 <= vocab <= 65_536:
        raise SpecError(f"synthetic vocab ({vocab}) must be between 2 and 65536", field="data")
    if not 1 <= branching <= vocab:
        raise SpecError(
            f"synthetic branching ({branching}) must be between 1 and the vocab ({vocab})", field="data"
        )
    return SyntheticSpec(vocab=vocab, branching=branching)


def data_kind(data: str) -> str:
    """'synthetic', 'pystdlib', 'text' or 'tokens' for a valid data string; SpecError otherwise."""
    if data == "pystdlib":
        return "pystdlib"
    prefix, sep, _ = data.partition(":") if isinstance(data, str) else ("", "", "")
    if sep and prefix in ("synthetic", "text", "tokens"):
        return prefix
    raise SpecError(
        f"unknown data source {data!r}: use 'pystdlib', 'synthetic:markov[-V-K]', "
        "'text:PATH' or 'tokens:PATH'",
        field="data",
    )


def data_path(data: str) -> Path | None:
    """The file or folder a 'text:PATH' or 'tokens:PATH' source reads, with ~ expanded (as the
    trainer opens it); None for the built-in sources and for an empty path.

    A service that confines data to some folders compares this path, links resolved, with them.
    """
    if data_kind(data) not in ("text", "tokens"):
        return None
    rest = data.partition(":")[2]
    return Path(rest).expanduser() if rest else None


@dataclass(frozen=True)
class RunSpec:
    """One proxy training run. Token counts are in tokens, not steps; steps are derived.

    Shape: n_layer, d_model, n_head (d_model divisible by n_head), seq_len, mlp ("gelu" or
    "swiglu"), tied_embeddings. Data: `data` is "pystdlib", "synthetic:markov[-V-K]",
    "text:PATH" or "tokens:PATH" (tokens needs vocab_size). Optimisation: AdamW with lr,
    betas, weight_decay, grad_clip (0 disables it), a warmup of warmup_tokens followed by the
    schedule; batch_tokens per optimizer step, split into micro-batches of micro_batch_tokens.
    Parametrization: "sp" (default) or "mup"; under mup, lr is the LR tuned at width
    base_d_model (default: this run's d_model) and trainer.model scales it per matrix.
    output_multiplier: the logits' multiplier (Tensor Programs V's alpha_output, 1.0 by default);
    under mup it is its value at the base width, tuned there with the LR, and the readout's
    base/width factor comes on top.
    qk_norm: LayerNorm on each head's queries and keys before their dot product (Dehghani et al.
    2023; Wortsman et al. 2023 find it keeps small proxies stable at high LR); off by default.
    A value that cannot run raises SpecError naming the field.
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
    parametrization: str = "sp"
    base_d_model: int | None = None
    output_multiplier: float = 1.0
    qk_norm: bool = False

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
    def width_mult(self) -> float:
        """d_model / base_d_model under mup (the width the LR was tuned at); 1.0 under sp."""
        if self.parametrization != "mup" or self.base_d_model is None:
            return 1.0
        return self.d_model / self.base_d_model

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
    def from_dict(cls, values: Mapping[str, Any]) -> RunSpec:
        """A spec from JSON-like values: SpecError naming an unknown or missing field, or a bad value."""
        known = sorted(f.name for f in fields(cls))
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise SpecError(f"unknown RunSpec fields {unknown}: known fields are {known}", field=unknown[0])
        missing = [f.name for f in fields(cls) if f.default is MISSING and f.name not in values]
        if missing:
            raise SpecError(f"RunSpec needs {', '.join(missing)}: give a value for each", field=missing[0])
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
            raise SpecError(f"{name} ({value!r}) must be a positive integer", field=name)
    if spec.d_model % spec.n_head:
        raise SpecError(
            f"d_model ({spec.d_model}) is not divisible by n_head ({spec.n_head}): "
            "pick n_head that divides d_model",
            field="d_model",
        )
    if spec.batch_tokens < spec.seq_len:
        raise SpecError(
            f"batch_tokens ({spec.batch_tokens}) is less than one sequence (seq_len {spec.seq_len}): "
            "raise batch_tokens or lower seq_len",
            field="batch_tokens",
        )
    if spec.batch_tokens % spec.seq_len:
        raise SpecError(
            f"batch_tokens ({spec.batch_tokens}) is not a multiple of seq_len ({spec.seq_len}): "
            f"use {spec.batch_size * spec.seq_len} or {(spec.batch_size + 1) * spec.seq_len}",
            field="batch_tokens",
        )
    if spec.tokens < spec.batch_tokens:
        raise SpecError(
            f"tokens ({spec.tokens}) is less than one batch ({spec.batch_tokens} tokens): "
            "raise tokens or lower batch_tokens",
            field="tokens",
        )
    if spec.micro_batch_tokens is not None:
        mb = spec.micro_batch_tokens
        if isinstance(mb, bool) or not isinstance(mb, int) or mb < spec.seq_len or mb % spec.seq_len:
            raise SpecError(
                f"micro_batch_tokens ({mb!r}) must be a positive multiple of seq_len ({spec.seq_len})",
                field="micro_batch_tokens",
            )
        if spec.batch_size % (mb // spec.seq_len):
            raise SpecError(
                f"micro_batch_tokens ({mb}) must divide batch_tokens ({spec.batch_tokens}) "
                "into whole micro-batches",
                field="micro_batch_tokens",
            )
    if not (_is_number(spec.lr) and math.isfinite(spec.lr) and spec.lr > 0):
        raise SpecError(f"lr ({spec.lr!r}) must be a positive finite number", field="lr")
    if spec.schedule not in SCHEDULES:
        raise SpecError(
            f"schedule {spec.schedule!r} is unknown: use one of {', '.join(SCHEDULES)}", field="schedule"
        )
    if spec.mlp not in MLPS:
        raise SpecError(f"mlp {spec.mlp!r} is unknown: use one of {', '.join(MLPS)}", field="mlp")
    if not (_is_number(spec.min_lr_ratio) and 0.0 <= spec.min_lr_ratio <= 1.0):
        raise SpecError(f"min_lr_ratio ({spec.min_lr_ratio}) must be in [0, 1]", field="min_lr_ratio")
    if not (_is_number(spec.decay_fraction) and 0.0 < spec.decay_fraction <= 1.0):
        raise SpecError(f"decay_fraction ({spec.decay_fraction}) must be in (0, 1]", field="decay_fraction")
    if not (_is_number(spec.weight_decay) and spec.weight_decay >= 0):
        raise SpecError(f"weight_decay ({spec.weight_decay}) must be >= 0", field="weight_decay")
    betas = spec.betas
    if not (
        isinstance(betas, tuple) and len(betas) == 2 and all(_is_number(b) and 0.0 <= b < 1.0 for b in betas)
    ):
        raise SpecError(f"betas ({betas!r}) must be two numbers in [0, 1)", field="betas")
    if not (_is_number(spec.grad_clip) and spec.grad_clip >= 0):
        raise SpecError(f"grad_clip ({spec.grad_clip}) must be >= 0 (0 disables clipping)", field="grad_clip")
    if spec.warmup_tokens is not None and not (_is_number(spec.warmup_tokens) and spec.warmup_tokens >= 0):
        raise SpecError(f"warmup_tokens ({spec.warmup_tokens}) must be >= 0", field="warmup_tokens")
    for name in ("eval_every_tokens", "eval_tokens"):
        value = getattr(spec, name)
        if value is not None and (not isinstance(value, int) or value < spec.seq_len):
            raise SpecError(
                f"{name} ({value!r}) must be an integer of at least one sequence ({spec.seq_len})", field=name
            )
    if isinstance(spec.seed, bool) or not isinstance(spec.seed, int):
        raise SpecError(f"seed ({spec.seed!r}) must be an integer", field="seed")
    for name in ("tied_embeddings", "compile", "qk_norm"):
        if not isinstance(getattr(spec, name), bool):
            raise SpecError(f"{name} ({getattr(spec, name)!r}) must be true or false", field=name)
    if not (isinstance(spec.device, str) and _DEVICE_RE.match(spec.device)):
        raise SpecError(
            f"device {spec.device!r} is unknown: use auto, cpu, mps, cuda or cuda:N", field="device"
        )
    _validate_parametrization(spec)
    _validate_data(spec)


def _validate_parametrization(spec: RunSpec) -> None:
    if spec.parametrization not in PARAMETRIZATIONS:
        raise SpecError(
            f"parametrization {spec.parametrization!r} is unknown: use one of {', '.join(PARAMETRIZATIONS)}",
            field="parametrization",
        )
    multiplier = spec.output_multiplier
    if not (
        _is_number(multiplier)
        and not isinstance(multiplier, bool)
        and math.isfinite(multiplier)
        and multiplier > 0
    ):
        raise SpecError(
            f"output_multiplier ({multiplier!r}) must be a positive finite number (1.0: the logits unscaled)",
            field="output_multiplier",
        )
    base = spec.base_d_model
    if base is None:
        return
    if spec.parametrization != "mup":
        raise SpecError(
            f"base_d_model ({base!r}) applies to parametrization 'mup' only: leave it unset under "
            f"{spec.parametrization!r} or set parametrization to 'mup'",
            field="base_d_model",
        )
    if isinstance(base, bool) or not isinstance(base, int) or base < spec.n_head:
        raise SpecError(
            f"base_d_model ({base!r}) must be an integer of at least n_head ({spec.n_head}): "
            "the width the learning rate was tuned at",
            field="base_d_model",
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float)


def _validate_data(spec: RunSpec) -> None:
    kind = data_kind(spec.data)
    rest = spec.data.partition(":")[2]
    if kind == "synthetic":
        synthetic = parse_synthetic(rest)
        if spec.vocab_size is not None and spec.vocab_size != synthetic.vocab:
            raise SpecError(
                f"vocab_size ({spec.vocab_size}) differs from the synthetic source's vocab "
                f"({synthetic.vocab}): "
                "leave vocab_size unset",
                field="vocab_size",
            )
    elif kind in ("text", "tokens"):
        path = data_path(spec.data)
        if path is None or not path.exists():
            raise SpecError(
                f"data file {rest!r} does not exist: give an existing path after '{kind}:'", field="data"
            )
        if kind == "tokens":
            if path.is_dir():
                raise SpecError(
                    f"tokens:{rest} is a folder: give one flat token file (.bin, .u32 or .npy)", field="data"
                )
            if spec.vocab_size is None:
                raise SpecError(
                    f"data {spec.data!r} needs vocab_size: set it to the tokenizer's vocabulary size",
                    field="vocab_size",
                )
        elif spec.vocab_size is not None and spec.vocab_size != BYTE_VOCAB:
            raise SpecError(
                f"text sources are byte-level (vocab 256): leave vocab_size unset, not {spec.vocab_size}",
                field="vocab_size",
            )
    elif spec.vocab_size is not None and spec.vocab_size != BYTE_VOCAB:
        raise SpecError(
            f"pystdlib is byte-level (vocab 256): leave vocab_size unset, not {spec.vocab_size}",
            field="vocab_size",
        )
    vocab_size = spec.vocab_size
    if vocab_size is not None and (
        isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 2
    ):
        raise SpecError(f"vocab_size ({vocab_size}) must be at least 2", field="vocab_size")
