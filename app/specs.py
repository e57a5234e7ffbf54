"""Run specs on the service side, without SQL: checking them against trainer.RunSpec, counting their
parameters and FLOPs, and expanding sweep designs (grids, axes around a centre, IsoFLOP budgets).

Shared by app/runs.py (submissions), app/plan/ (experiment design) and the CLI. Only the torch-free
trainer.spec and trainer.accounting are imported, so the API validates specs without torch.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from app.errors import InvalidInput
from trainer.accounting import count_params, flops_per_token
from trainer.spec import RunSpec, SpecError, data_path

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
