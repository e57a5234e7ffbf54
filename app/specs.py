"""Run specs on the service side, without SQL: checking them against trainer.RunSpec, counting their
parameters and FLOPs, and expanding sweep designs (grids, axes around a centre, IsoFLOP budgets).

Shared by app/runs.py (submissions), app/plan/ (experiment design) and the CLI. Only the torch-free
trainer.spec and trainer.accounting are imported, so the API validates specs without torch.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from app.errors import InvalidInput
from trainer.accounting import count_params, flops_per_token
from trainer.spec import RunSpec, SpecError, data_kind, data_path, parse_synthetic

# The fields that make a model's shape; the rest of a spec says how it is trained.
SHAPE_FIELDS = ("n_layer", "d_model", "n_head")

# RunSpec's integer fields (int or int | None). JSON writers such as Python's json.dumps spell 1e5 as a
# float, so an integral float is taken as the integer it names (within int64; 1.5 stays refused).
INT_FIELDS = frozenset(
    name for name, hint in typing.get_type_hints(RunSpec).items() if hint in (int, int | None)
)
_INT64 = 2**63

# One answer for a path outside the data roots and for a path that does not exist, so the API
# does not tell a client which files exist on the server.
DATA_PATH_REFUSED = (
    "data path is not under a configured data root (HYPERLAW_DATA_ROOTS) or does not exist: use "
    "a built-in source (synthetic:markov, pystdlib) or a file under a data root"
)


def check_data(data: Any, roots: Sequence[Path]) -> None:
    """Refuse a text:PATH or tokens:PATH source unless the path exists and, links resolved, lies under
    one of `roots` (resolved folders, Settings.data_roots); built-in sources always pass. Malformed
    data strings pass too: RunSpec names their fault."""
    try:
        path = data_path(data)
    except SpecError:
        return
    if path is None:
        if isinstance(data, str) and data.partition(":")[0] in ("text", "tokens"):
            raise InvalidInput(DATA_PATH_REFUSED, field="data")  # "text:" with no path
        return
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError) as error:  # missing, unreadable, or a loop of links
        raise InvalidInput(DATA_PATH_REFUSED, field="data") from error
    if not any(resolved.is_relative_to(root.resolve()) for root in roots):
        raise InvalidInput(DATA_PATH_REFUSED, field="data")


def check_source(data: Any, *, field: str = "data") -> None:
    """InvalidInput naming `field` for a data source the trainer does not know ("nosuch:thing", a
    malformed synthetic chain); whether a file source may be read is `check_data`'s question."""
    try:
        if data_kind(data) == "synthetic":
            parse_synthetic(data.partition(":")[2])
    except SpecError as error:
        raise InvalidInput(str(error), field=field) from error


def check_defaults(defaults: Mapping[str, Any]) -> None:
    """Refuse study defaults a run could never use: a key that is no RunSpec field (with the nearest
    field named) or an unknown data source. Values that depend on the rest of a spec (batch_tokens
    against seq_len) are checked with each run, when the spec is whole."""
    known = sorted(f.name for f in dataclasses.fields(RunSpec))
    for name in sorted(set(defaults) - set(known)):
        near = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise InvalidInput(
            f"defaults: {name!r} is not a RunSpec field: {hint}use one of {', '.join(known)}",
            field="defaults",
        )
    if "data" in defaults:
        check_source(defaults["data"], field="defaults")


def integral(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with each integral float of an integer field (INT_FIELDS) made an int: 1e5 -> 100000."""
    return {
        name: int(value)
        if name in INT_FIELDS and isinstance(value, float) and value.is_integer() and abs(value) < _INT64
        else value
        for name, value in values.items()
    }


def validate_spec(
    spec: Mapping[str, Any],
    *,
    defaults: Mapping[str, Any] | None = None,
    data_roots: Sequence[Path] | None = None,
) -> RunSpec:
    """The study defaults overlaid with `spec`, checked by RunSpec.from_dict (unknown, missing and bad
    fields); InvalidInput naming the field when the trainer refuses it.

    With `data_roots` (the service's Settings.data_roots), a file source must lie under one of them
    (`check_data`), checked before the trainer looks at the path. None means no confinement: a local
    command line training on its user's own files.
    """
    values = integral({**dict(defaults or {}), **dict(spec)})
    if data_roots is not None:
        check_data(values.get("data"), data_roots)
    try:
        return RunSpec.from_dict(values)
    except SpecError as error:
        raise InvalidInput(str(error), field=error.field) from error


# Training memory. AdamW in fp32 keeps four numbers per parameter: the weight, its gradient and the two
# moments (Rajbhandari et al. 2020, ZeRO, §3.1: 16 bytes per parameter in mixed precision; fp32
# weights here, so the same 16). Activations kept for the backward pass: about 34·d_model bytes per
# token and layer in 16-bit (Korthikanti et al. 2022, eq. 2, less the s² attention term that fused
# attention avoids), doubled for fp32; and the logits with their gradient, 8 bytes per vocab entry.
_BYTES_PER_PARAM = 16
_ACTIVATION_BYTES = 2 * 34
_GB = 1e9
# What one run may take on each kind of device when the settings do not say (HYPERLAW_MAX_RUN_*):
# the memory of a large host, an 80 GB accelerator, a laptop's shared memory; and FLOPs a device
# does in about a week (1e11 FLOP/s on CPU cores, 1e15 on a GPU, 1e13 on MPS).
DEVICE_MEMORY_GB = {"cpu": 64.0, "cuda": 80.0, "mps": 16.0}
DEVICE_FLOPS = {"cpu": 1e17, "cuda": 1e21, "mps": 1e19}


def memory_estimate(spec: RunSpec) -> float:
    """Bytes a run needs to train: weights, gradients and AdamW's moments, plus one micro-batch's
    activations and logits (a floor: allocator slack and the data are not counted)."""
    micro = spec.micro_batch_tokens or spec.batch_tokens
    state = _BYTES_PER_PARAM * count_params(spec).total
    activations = micro * (_ACTIVATION_BYTES * spec.d_model * spec.n_layer + 8 * spec.vocab)
    return float(state + activations)


@dataclasses.dataclass(frozen=True)
class Capacity:
    """What the worker pool can run: its device kind, and the most memory and FLOPs one run may take
    (Settings.worker_device, max_run_memory_gb, max_run_flops). Checked at submission, so a run the
    workers cannot train is refused with the reason instead of failing its attempts later."""

    device: str = "cpu"
    max_memory_gb: float | None = None
    max_flops: float | None = None

    @classmethod
    def of(cls, settings: Any) -> Capacity:
        return cls(settings.worker_device, settings.max_run_memory_gb, settings.max_run_flops)

    def check(self, spec: RunSpec) -> None:
        """InvalidInput saying why the pool cannot run `spec`: a device it does not have, or a memory
        or FLOP estimate beyond the limits, with the setting that raises them."""
        wanted = spec.device.partition(":")[0]
        if wanted in ("cuda", "mps") and wanted != self.device:
            raise InvalidInput(
                f"device {spec.device!r}: the workers train on {self.device} (HYPERLAW_WORKER_DEVICE): use "
                f"device 'auto' or '{self.device}'",
                field="device",
            )
        memory_gb = memory_estimate(spec) / _GB
        limit_gb = self.max_memory_gb or DEVICE_MEMORY_GB[self.device]
        if memory_gb > limit_gb:
            raise InvalidInput(
                f"the run needs about {memory_gb:.3g} GB to train ({count_params(spec).total:.3g} parameters "
                f"at {_BYTES_PER_PARAM} bytes each with AdamW, plus activations), more than the "
                f"{limit_gb:.3g} GB one run may use on the workers' {self.device} "
                "(HYPERLAW_MAX_RUN_MEMORY_GB): use a smaller model or micro_batch_tokens, or raise the setting",
                field="d_model",
            )
        flops = float(flops_per_token(spec).kaplan) * spec.tokens
        limit = self.max_flops or DEVICE_FLOPS[self.device]
        if flops > limit:
            raise InvalidInput(
                f"the run needs about {flops:.3g} FLOPs, more than the {limit:.3g} one run may take on the "
                f"workers' {self.device} (HYPERLAW_MAX_RUN_FLOPS): lower tokens or the model size, or "
                "raise the setting",
                field="tokens",
            )


def accounting(spec: RunSpec) -> dict[str, float]:
    """Parameter and FLOP counts of a spec, from trainer.accounting: what a run records."""
    params, flops = count_params(spec), flops_per_token(spec)
    return {
        "n_params": float(params.total),
        "n_params_non_embedding": float(params.non_embedding),
        "flops": float(flops.kaplan) * spec.tokens,
        "flops_6nd": float(flops.six_n) * spec.tokens,
    }


def seq_len_of(spec: Mapping[str, Any]) -> int:
    """The spec's seq_len, or RunSpec's default when it is unset or not a positive integer
    (validate_spec names a bad value later)."""
    value = integral({"seq_len": spec.get("seq_len")})["seq_len"]
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return next(f.default for f in dataclasses.fields(RunSpec) if f.name == "seq_len")


def log_around(centre: float, k: int, factor: float) -> list[float]:
    """centre·factor^i for i = -k..k: 2k+1 log-spaced values, ascending (an LR axis around a guess)."""
    return [centre * factor**i for i in range(-k, k + 1)]


def batches_around(centre: float, k: int, factor: float, *, seq_len: int) -> list[int]:
    """`log_around` rounded to whole sequences of `seq_len` tokens (at least one), duplicates removed.

    RunSpec needs batch_tokens to be a multiple of seq_len, so the rounding happens here, once.
    """
    sequences = {max(1, round(value / seq_len)) for value in log_around(centre, k, factor)}
    return [n * seq_len for n in sorted(sequences)]


def expand_grid(
    base: Mapping[str, Any],
    *,
    shapes: Sequence[Mapping[str, Any]] = (),
    tokens: Sequence[float] = (),
    lr: Sequence[float] = (),
    batch_tokens: Sequence[float] = (),
    seed: Sequence[int] = (),
) -> list[dict[str, Any]]:
    """The product of the given axes applied to `base`; an empty axis keeps the base value."""
    axes: list[list[dict[str, Any]]] = [
        [dict(s) for s in shapes] or [{}],
        [{"tokens": int(t)} for t in tokens] or [{}],
        [{"lr": float(x)} for x in lr] or [{}],
        [{"batch_tokens": int(b)} for b in batch_tokens] or [{}],
        [{"seed": int(s)} for s in seed] or [{}],
    ]
    specs = []
    for combo in itertools.product(*axes):
        spec = dict(base)
        for part in combo:
            spec.update(part)
        specs.append(spec)
    return specs


def expand_isoflop(
    base: Mapping[str, Any], *, compute: Sequence[float], shapes: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """An IsoFLOP design (Hoffmann et al. 2022, approach 2): each budget C × each shape,
    tokens = C / (6·N) rounded down to whole batches, N the non-embedding parameters.

    Shapes whose budget is less than one batch are left out of that budget.
    """
    specs = []
    for budget in compute:
        for shape in shapes:
            spec = {**dict(base), **dict(shape)}
            batch = int(spec.get("batch_tokens") or 1)
            # N is the non-embedding count, Kaplan's and approach 2's convention.
            n_params = accounting(validate_spec({**spec, "tokens": batch}))["n_params_non_embedding"]
            tokens = math.floor(budget / (6.0 * n_params) / batch) * batch
            if tokens >= batch:
                specs.append({**spec, "tokens": int(tokens)})
    if not specs:
        raise InvalidInput(
            "no shape fits any compute budget with at least one batch: raise compute", field="compute"
        )
    return specs
