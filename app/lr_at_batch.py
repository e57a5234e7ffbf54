"""The learning rate at the user's batch size: the `lr_at_batch` part of a prediction, the LR law's
optimum carried from the batch it was measured at by fitting.transfer_lr (the square-root rule for
Adam, the linear rule for SGD), flagged above the critical batch size.

The reference batch is the one the LR law's optimum sits at, and the answer names it:
- "batch_opt": the LR law's sweeps varied LR and batch together, so each located LR optimum is at
  its sweep's optimal batch; at (N, D) that is the batch_opt law's prediction.
- "fixed": every run of the LR law was trained at one batch size, so its optimum is at that batch
  (a batch_opt law, if any, is not where that LR was measured).
Sweeps at different fixed batches, or runs without a batch size, have no one reference batch: the
field is null and a warning says why. Batch sizes are in tokens, as batch_size_opt and
critical_batch_size are, with sequences beside them when the study's seq_len is known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import fitting
from app.errors import InvalidInput
from fitting.transfer import RULES

OPTIMIZERS: tuple[str, ...] = tuple(RULES)
# Where each rule comes from, for the answer's `basis` line.
SOURCES = {"adam": "Malladi et al. 2022", "sgd": "Goyal et al. 2017"}


@dataclass(frozen=True)
class Reference:
    """The batch the LR law's optimum was measured at: kind "batch_opt" (the predicted optimal batch),
    "fixed" (`tokens`, the one batch of its runs) or None (no one batch; `why` says so)."""

    kind: str | None
    tokens: float | None = None
    why: str = ""


def reference_of(restored: Any, batches: tuple[float | None, ...], fit_id: int) -> Reference:
    """The reference batch of an LR law from its restored fit (the sweeps' located optima) and the
    distinct batch sizes (tokens; None: not recorded) of the runs it was fitted on."""
    values = set(batches)
    if len(values) == 1 and None not in values:
        return Reference("fixed", float(next(iter(values))))
    found = [o for o in getattr(restored, "optima", ()) if o.status == "found" and o.lr is not None]
    if found and all(o.batch is not None for o in found):
        return Reference("batch_opt")
    if not values:
        why = f"the batch sizes of the lr_opt fit {fit_id}'s runs were not read"
    elif None in values:
        why = (
            f"some runs of the lr_opt fit {fit_id} record no batch size, so the batch its LR optimum was "
            "measured at is unknown"
        )
    else:
        known = sorted(v for v in values if v is not None)
        why = (
            f"the lr_opt fit {fit_id}'s sweeps were trained at different batch sizes ({known[0]:.4g} to "
            f"{known[-1]:.4g} tokens) without sweeping the batch within each, so its LR optimum is at no one "
            "batch: sweep LR and batch together, or hold the batch fixed across the LR sweeps"
        )
    return Reference(None, why=why)


def _sizes(tokens: float, seq_len: float | None) -> dict[str, float | None]:
    return {"tokens": tokens, "sequences": tokens / seq_len if seq_len else None}


def lr_at_batch(
    *,
    batch: float,
    optimizer: str,
    answer: dict[str, Any],
    reference: Reference | None,
    seq_len: float | None,
    warnings: list[str],
) -> dict[str, Any] | None:
    """The LR at `batch` tokens from the answer's lr_opt (and batch_size_opt, critical_batch_size), as a
    JSON-ready dict (LRAtBatch's shape), or None with a warning when there is no LR law or no
    reference batch. InvalidInput (field "batch") when the transferred LR is not a finite number."""
    lr = answer.get("lr_opt")
    if lr is None or reference is None:
        warnings.append("lr_at_batch: needs an lr_opt fit (the LR to transfer), and this study has none")
        return None
    if reference.kind is None:
        warnings.append(f"lr_at_batch: {reference.why}")
        return None
    if reference.kind == "batch_opt":
        predicted = (answer.get("batch_size_opt") or {}).get("tokens")
        if predicted is None:
            warnings.append(
                f"lr_at_batch: the lr_opt fit located each LR optimum at its sweep's optimal batch, and this "
                f"study has no batch_opt fit to say where that is: POST /v1/studies/{answer['study']}/fits "
                '{"law": "batch_opt"}'
            )
            return None
        ref_tokens, ref_lo, ref_hi = predicted["value"], predicted["lo"], predicted["hi"]
        where = "the predicted optimal batch (batch_opt law)"
    else:
        ref_tokens = ref_lo = ref_hi = reference.tokens
        where = "the one batch size the lr_opt fit's runs were trained at"
    critical = answer.get("critical_batch_size")
    b_crit = critical["value"] if critical is not None else None
    try:
        moved = fitting.transfer_lr(lr["value"], ref_tokens, batch, optimizer=optimizer, b_crit=b_crit)
    except ValueError as error:
        raise InvalidInput(f"batch ({batch:g} tokens): {error}", field="batch") from error
    exponent = RULES[optimizer][1]
    lo = hi = None
    # The LR law's interval, widened over the reference batch's interval where that is predicted
    # (both ends at once: the two laws' uncertainties are not independent draws of one bootstrap).
    if lr["lo"] is not None and lr["hi"] is not None and ref_lo is not None and ref_hi is not None:
        lo = lr["lo"] * (batch / ref_hi) ** exponent
        hi = lr["hi"] * (batch / ref_lo) ** exponent
        if not (math.isfinite(lo) and math.isfinite(hi)):
            lo = hi = None
    warnings.extend(f"lr_at_batch: {w}" for w in moved.warnings)
    return {
        "value": moved.lr,
        "lo": lo,
        "hi": hi,
        "batch": _sizes(batch, seq_len),
        "reference": reference.kind,
        "reference_batch": _sizes(ref_tokens, seq_len),
        "lr_opt": moved.lr_opt,
        "optimizer": optimizer,
        "rule": moved.rule,
        "factor": moved.factor,
        "b_crit": b_crit,
        "above_critical": moved.above_critical,
        "basis": (
            f"lr_opt {moved.lr_opt:.4g} at {where}, {ref_tokens:.4g} tokens, times "
            f"{'sqrt(' if moved.rule == 'sqrt' else '('}{batch:.4g} / {ref_tokens:.4g}) = {moved.factor:.4g} "
            f"({moved.rule} rule for {optimizer}, {SOURCES[optimizer]})"
        ),
    }
