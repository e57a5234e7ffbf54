"""The training loop: a RunSpec in, curve points out through a callback, a RunResult back.

Read top to bottom like nanoGPT's train.py: pick the device, build model, optimizer and data,
maybe resume, then one loop of optimizer steps with evaluation, the gradient noise scale,
divergence checks and atomic checkpoints. Every batch is a pure function of the step
(trainer.data), so the checkpoint's data position is the step itself and a resumed run on CPU
repeats the uninterrupted one exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trainer.accounting import FlopCount, ParamCount, count_params, flops_per_token
from trainer.data import Batch, TokenSource, source_for
from trainer.model import GPT, GPTConfig
from trainer.noise import NoiseScale
from trainer.schedule import lr_at
from trainer.spec import RunSpec

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
# Divergence: NaN/inf at any step, or the train loss above its value at initialisation after
# warmup. Loss spikes can recover (Chowdhery et al. 2022, PaLM §5.1), so a loss above the initial
# one must persist for _DIVERGENCE_PATIENCE logged steps; a loss above twice the initial one (worse
# than a random model by ln V nats and more) stops the run at once.
_DIVERGENCE_PATIENCE = 5
_DIVERGENCE_FACTOR = 2.0
# Spec fields that may change between an interrupted run and its resumption: they choose where
# and how fast it runs, not what it computes.
_RESUMABLE_CHANGES = frozenset({"device", "compile"})
_SPEC_DEFAULTS = {
    f.name: f.default for f in dataclasses.fields(RunSpec) if f.default is not dataclasses.MISSING
}


@dataclass(frozen=True)
class CurvePoint:
    """One logged step. step counts completed optimizer steps; train_loss is that step's batch
    loss (before its update); eval_loss and noise_scale are None when not measured at this step;
    wall_time is seconds since the run first started, summed over resumptions."""

    step: int
    tokens: int
    train_loss: float
    eval_loss: float | None
    lr: float
    noise_scale: float | None
    wall_time: float


@dataclass(frozen=True)
class RunResult:
    """The outcome of train(). status is "done" or "diverged" (with the reason in message).

    flops_6nd uses 6N (non-embedding); flops_kaplan the Kaplan 2020 Table 1 count with
    attention; both over the tokens trained. tokens_per_second covers this call only, and
    curve holds the points this call emitted (a resumed call starts after its checkpoint).
    """

    status: str
    steps: int
    tokens: int
    final_train_loss: float | None
    final_eval_loss: float | None
    noise_scale: float | None
    params: ParamCount
    flops_per_token: FlopCount
    flops_6nd: int
    flops_kaplan: int
    tokens_per_second: float
    wall_time: float
    device: str
    entropy_floor: float | None = None
    message: str = ""
    curve: tuple[CurvePoint, ...] = field(default=(), repr=False)


def pick_device(requested: str) -> torch.device:
    """cuda > mps > cpu for "auto"; otherwise the requested device."""
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} is not available on this machine: use auto or cpu")
    if requested == "mps" and not (torch.backends.mps.is_available()):
        raise ValueError("device 'mps' is not available on this machine: use auto or cpu")
    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def build_optimizer(model: GPT, spec: RunSpec, device: torch.device) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay (Loshchilov & Hutter 2019) on matrices and embeddings
    only; norm gains are not decayed (nanoGPT's configure_optimizers). Fused kernels on CUDA.

    Each group's "lr_scale" multiplies the scheduled LR (model.lr_scales: 1.0 under sp; mup's
    hidden matrices base/width). Its weight-decay coefficient is divided by the same factor, as
    the mup package's MuAdamW does by default (decoupled_wd=False: weight_decay × width_mult), so
    the decay AdamW applies per step, lr·wd, is the base width's at every width."""
    groups = []
    for params, scale in model.lr_scales():
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        weight_decay = spec.weight_decay if scale == 1.0 else spec.weight_decay / scale
        groups += [
            {"params": decay, "weight_decay": weight_decay, "lr_scale": scale},
            {"params": no_decay, "weight_decay": 0.0, "lr_scale": scale},
        ]
    groups = [g for g in groups if g["params"]]  # mup's hidden matrices have no vectors
    for group in groups:
        group["lr"] = spec.lr * group["lr_scale"]
    return torch.optim.AdamW(groups, lr=spec.lr, betas=spec.betas, fused=device.type == "cuda")


@dataclass
class _State:
    """Everything a checkpoint restores besides model and optimizer."""

    step: int = 0
    initial_loss: float | None = None
    above_initial: int = 0
    last_train_loss: float | None = None
    last_eval_loss: float | None = None
    elapsed: float = 0.0
    noise: NoiseScale = field(default_factory=NoiseScale)


def train(
    spec: RunSpec,
    on_point: Callable[[CurvePoint], None] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    *,
    checkpoint_every_steps: int | None = None,
) -> RunResult:
    """Train the proxy model `spec` describes; call on_point at each log step.

    With checkpoint_dir, the full training state is written atomically every
    checkpoint_every_steps steps (default: at each eval) and at the end; with resume=True the
    latest checkpoint there is continued: points after the checkpoint's step are emitted again
    with the same values (on CPU), so a consumer that upserts by step neither loses nor
    duplicates one. A spec problem raises ValueError; a diverging run returns status
    "diverged". Exceptions raised by on_point propagate (the run stops there).
    """
    if checkpoint_every_steps is not None and checkpoint_every_steps < 1:
        raise ValueError(f"checkpoint_every_steps ({checkpoint_every_steps}) must be >= 1")
    device = pick_device(spec.device)
    source = source_for(spec)
    torch.manual_seed(spec.seed)
    model = GPT(GPTConfig.from_spec(spec)).to(device)
    optimizer = build_optimizer(model, spec, device)
    state = _State()
    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if resume and ckpt_path is not None and ckpt_path.exists():
        state = _load_checkpoint(ckpt_path, spec, model, optimizer, device)
        log.info("resuming %s at step %d", ckpt_path, state.step)
    step_fn = torch.compile(model) if spec.compile else model
    autocast = (
        (lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16))
        if device.type == "cuda"
        else contextlib.nullcontext
    )
    every_ckpt = checkpoint_every_steps or spec.eval_every_steps
    loop = _Loop(spec, source, model, step_fn, optimizer, device, autocast)
    params, flops = count_params(spec), flops_per_token(spec)

    points: list[CurvePoint] = []
    status, message = "done", ""
    start_step, started = state.step, time.perf_counter()
    wall = state.elapsed
    while state.step < spec.steps:
        step = state.step
        lr = lr_at(step, spec)
        is_eval = (step + 1) % spec.eval_every_steps == 0 or step + 1 == spec.steps
        loss = loop.step(step, lr, measure_noise=is_eval, noise=state.noise)
        state.step = step + 1
        if is_eval or step == 0 or state.step % spec.log_every_steps == 0:
            train_loss = float(loss)
            state.last_train_loss = train_loss
            if is_eval:
                state.last_eval_loss = loop.evaluate()
            if state.initial_loss is None:
                state.initial_loss = train_loss
            wall = state.elapsed + time.perf_counter() - started
            point = CurvePoint(
                step=state.step,
                tokens=state.step * spec.tokens_per_step,
                train_loss=train_loss,
                eval_loss=state.last_eval_loss if is_eval else None,
                lr=lr,
                noise_scale=state.noise.value if is_eval else None,
                wall_time=wall,
            )
            points.append(point)
            if on_point is not None:
                on_point(point)
            message = _divergence(state, train_loss, step, spec)
            if message:
                status = "diverged"
                log.warning("run diverged: %s", message)
                break
        if ckpt_path is not None and (state.step % every_ckpt == 0 or state.step == spec.steps):
            checkpoint_state = dataclasses.replace(
                state, elapsed=state.elapsed + time.perf_counter() - started
            )
            _save_checkpoint(ckpt_path, spec, model, optimizer, checkpoint_state)

    loop_time = time.perf_counter() - started
    tokens = state.step * spec.tokens_per_step
    return RunResult(
        status=status,
        steps=state.step,
        tokens=tokens,
        final_train_loss=state.last_train_loss,
        final_eval_loss=state.last_eval_loss,
        noise_scale=state.noise.value,
        params=params,
        flops_per_token=flops,
        flops_6nd=flops.six_n * tokens,
        flops_kaplan=flops.kaplan * tokens,
        tokens_per_second=(state.step - start_step) * spec.tokens_per_step / loop_time
        if loop_time > 0
        else 0.0,
        wall_time=max(wall, state.elapsed),
        device=str(device),
        entropy_floor=source.entropy,
        message=message,
        curve=tuple(points),
    )


def _divergence(state: _State, train_loss: float, step: int, spec: RunSpec) -> str:
    """The reason the run diverged at this step, or "" while it is healthy."""
    if not math.isfinite(train_loss):
        return f"train loss became {train_loss} at step {step + 1}: lower lr"
    assert state.initial_loss is not None
    if step < spec.warmup_steps:
        return ""
    if train_loss > _DIVERGENCE_FACTOR * state.initial_loss:
        return (
            f"train loss {train_loss:.4g} is more than twice its initial value {state.initial_loss:.4g} "
            f"at step {step + 1}: lower lr"
        )
    state.above_initial = state.above_initial + 1 if train_loss > state.initial_loss else 0
    if state.above_initial >= _DIVERGENCE_PATIENCE:
        return (
            f"train loss stayed above its initial value {state.initial_loss:.4g} for "
            f"{state.above_initial} logged steps after warmup (step {step + 1}): lower lr"
        )
    return ""


class _Loop:
    """One optimizer step and one evaluation, with the tensors they reuse."""

    def __init__(
        self,
        spec: RunSpec,
        source: TokenSource,
        model: GPT,
        step_fn: Callable[..., torch.Tensor],
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        autocast: Callable[[], Any],
    ) -> None:
        self.spec, self.source, self.model, self.step_fn = spec, source, model, step_fn
        self.optimizer, self.device, self.autocast = optimizer, device, autocast
        self.params = [p for p in model.parameters() if p.requires_grad]
        self._eval: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def _tensors(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(batch.x).to(self.device), torch.from_numpy(batch.y).to(self.device)

    def step(self, step: int, lr: float, *, measure_noise: bool, noise: NoiseScale) -> torch.Tensor:
        spec = self.spec
        x, y = self._tensors(self.source.train_batch(spec.seed, step, spec.batch_size, spec.seq_len))
        sizes = [spec.micro_batch_size] * spec.grad_accum_steps
        if measure_noise and len(sizes) == 1 and spec.batch_size >= 2:
            # One micro-batch gives one batch size only; split this step's batch in two so the
            # first half's gradient is the small-batch measurement (same data, same update).
            sizes = [spec.batch_size // 2, spec.batch_size - spec.batch_size // 2]
        measure_noise = measure_noise and len(sizes) > 1
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        total = torch.zeros((), device=self.device)
        offset, small_sq = 0, 0.0
        for i, size in enumerate(sizes):
            weight = size / spec.batch_size
            with self.autocast():
                loss = self.step_fn(x[offset : offset + size], y[offset : offset + size])
            (loss * weight).backward()
            total += loss.detach() * weight
            offset += size
            if measure_noise and i == 0:
                grads = [p.grad for p in self.params if p.grad is not None]
                small_sq = float(torch.nn.utils.get_total_norm(grads)) ** 2 / weight**2
        if spec.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(self.params, spec.grad_clip)
        elif measure_noise:
            norm = torch.nn.utils.get_total_norm([p.grad for p in self.params if p.grad is not None])
        if measure_noise:
            noise.update(small_sq, sizes[0] * spec.seq_len, float(norm) ** 2, spec.tokens_per_step)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean cross-entropy (nats/token) on the source's fixed held-out windows."""
        spec = self.spec
        if self._eval is None:
            batches = self.source.eval_batches(spec.eval_tokens_resolved, spec.micro_batch_size, spec.seq_len)
            self._eval = [self._tensors(b) for b in batches]
        self.model.eval()
        total, count = torch.zeros((), device=self.device), 0
        for x, y in self._eval:
            with self.autocast():
                loss = self.step_fn(x, y)
            total += loss.float() * y.numel()
            count += y.numel()
        self.model.train()
        return float(total) / count


def _save_checkpoint(
    path: Path, spec: RunSpec, model: GPT, optimizer: torch.optim.Optimizer, state: _State
) -> None:
    """Write the full training state atomically: a temp file in the same folder, fsync, os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "spec": spec.to_dict(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": state.step,  # also the data position: batch i is a pure function of step i
        "initial_loss": state.initial_loss,
        "above_initial": state.above_initial,
        "last_train_loss": state.last_train_loss,
        "last_eval_loss": state.last_eval_loss,
        "elapsed": state.elapsed,
        "noise": state.noise.state_dict(),
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        torch.save(payload, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _load_checkpoint(
    path: Path, spec: RunSpec, model: GPT, optimizer: torch.optim.Optimizer, device: torch.device
) -> _State:
    payload = torch.load(path, map_location=device, weights_only=True)
    # A checkpoint written before a field existed holds that field's default value.
    saved = {**_SPEC_DEFAULTS, **payload["spec"]}
    current = spec.to_dict()
    changed = sorted(k for k in current if k not in _RESUMABLE_CHANGES and saved.get(k) != current[k])
    if changed:
        raise ValueError(
            f"checkpoint {path} was written for a different spec (fields {', '.join(changed)} differ): "
            "use a fresh checkpoint_dir or resume=False"
        )
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    torch.set_rng_state(payload["rng_cpu"].cpu())
    if payload["rng_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in payload["rng_cuda"]])
    noise = NoiseScale()
    noise.load_state_dict(payload["noise"])
    return _State(
        step=payload["step"],
        initial_loss=payload["initial_loss"],
        above_initial=payload["above_initial"],
        last_train_loss=payload["last_train_loss"],
        last_eval_loss=payload["last_eval_loss"],
        elapsed=payload["elapsed"],
        noise=noise,
    )
