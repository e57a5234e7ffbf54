"""The learning rate at another batch size, from the optimum measured at one: batch-size transfer rules.

- Adam: the square-root rule, lr(B) = lr_opt · sqrt(B / B_opt) (Malladi et al. 2022, "On the SDEs
  and Scaling Rules for Adaptive Gradient Algorithms": scaling the batch by κ and Adam's LR by
  sqrt(κ), with each β moved to 1 - κ(1 - β) and ε to ε/sqrt(κ), keeps the same SDE; at the usual
  β's and small κ only the LR's change matters).
- SGD: the linear rule, lr(B) = lr_opt · B / B_opt (Goyal et al. 2017, "Accurate, Large Minibatch
  SGD: Training ImageNet in 1 Hour", §2.1).

Both hold only while the batch is below the critical batch size (McCandlish et al. 2018, "An
Empirical Model of Large-Batch Training": the optimal SGD step is ε_max / (1 + B_noise/B), linear in
B well below B_noise and flat above it). A batch above B_crit is flagged, never silently capped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fitting import _validate as check

# Per optimizer, the rule and its exponent: lr ∝ B^exponent below the critical batch size.
RULES = {"adam": ("sqrt", 0.5), "sgd": ("linear", 1.0)}


@dataclass(frozen=True)
class TransferredLR:
    """The LR at `batch` from the optimum `lr_opt` at `batch_opt`. `factor` = lr / lr_opt.
    above_critical: True when `batch` or `batch_opt` exceeds b_crit (the rule does not hold
    there), False below it, None when no b_crit was given (unchecked); `warnings` says why."""

    lr: float
    batch: float
    lr_opt: float
    batch_opt: float
    optimizer: str
    rule: str
    factor: float
    b_crit: float | None
    above_critical: bool | None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "lr": self.lr,
            "batch": self.batch,
            "lr_opt": self.lr_opt,
            "batch_opt": self.batch_opt,
            "optimizer": self.optimizer,
            "rule": self.rule,
            "factor": self.factor,
            "b_crit": self.b_crit,
            "above_critical": self.above_critical,
            "warnings": list(self.warnings),
        }


def transfer_lr(
    lr_opt: float,
    batch_opt: float,
    batch: float,
    *,
    optimizer: str = "adam",
    b_crit: float | None = None,
) -> TransferredLR:
    """The LR for `batch` from the optimum `lr_opt` measured at `batch_opt` (any one unit for the
    three batch sizes: sequences or tokens): the square-root rule for "adam" (AdamW too), the
    linear rule for "sgd". With `b_crit`, a batch above it is flagged (`above_critical`) and warned
    about; the rule's value is returned either way. ValueError naming a bad argument."""
    lr_opt = check.positive_float("lr_opt", lr_opt)
    batch_opt = check.positive_float("batch_opt", batch_opt)
    batch = check.positive_float("batch", batch)
    if optimizer not in RULES:
        raise ValueError(f"optimizer {optimizer!r} is unknown: use one of {', '.join(RULES)}")
    rule, exponent = RULES[optimizer]
    factor = (batch / batch_opt) ** exponent
    warnings: list[str] = []
    above: bool | None = None
    if b_crit is not None:
        b_crit = check.positive_float("b_crit", b_crit)
        above = max(batch, batch_opt) > b_crit
        for name, value in (("the reference batch", batch_opt), ("batch", batch)):
            if value > b_crit:
                warnings.append(
                    f"{name} {value:g} is above the critical batch size {b_crit:g}: the {rule} rule holds "
                    "below it (above it a larger batch saves few steps and the optimal LR levels off), "
                    f"so lr {lr_opt * factor:.3g} is likely too high; train at or below {b_crit:g}"
                )
    else:
        warnings.append(
            f"no critical batch size given: the {rule} rule holds only below it, which was not checked"
        )
    lr = lr_opt * factor
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(
            f"the transferred lr ({lr}) is not a positive finite number: check the inputs' scale"
        )
    return TransferredLR(
        lr=lr,
        batch=batch,
        lr_opt=lr_opt,
        batch_opt=batch_opt,
        optimizer=optimizer,
        rule=rule,
        factor=factor,
        b_crit=b_crit,
        above_critical=above,
        warnings=warnings,
    )
