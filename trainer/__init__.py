"""hyperlaw.trainer: proxy GPT models trained with PyTorch.

Public API::

    from trainer import RunSpec, train, count_params, flops_per_token, shape_for_params, CurvePoint, RunResult

    spec = RunSpec(n_layer=4, d_model=256, n_head=4, seq_len=256, tokens=50_000_000, batch_tokens=65_536,
                   lr=3e-3, data="pystdlib")
    result = train(spec, on_point=print, checkpoint_dir="ckpt/", resume=True)

RunSpec (a bad value raises SpecError naming the field), count_params, flops_per_token and
shape_for_params are torch-free, so importing them (or `trainer.spec`) does not import torch;
train, CurvePoint and RunResult come from `trainer.loop`, which imports torch on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trainer.accounting import FlopCount, ParamCount, Shape, count_params, flops_per_token, shape_for_params
from trainer.spec import RunSpec, SpecError

if TYPE_CHECKING:
    from trainer.loop import CurvePoint, RunResult, train

__all__ = [
    "CurvePoint",
    "FlopCount",
    "ParamCount",
    "RunResult",
    "RunSpec",
    "Shape",
    "SpecError",
    "count_params",
    "flops_per_token",
    "shape_for_params",
    "train",
]

_LAZY = {"train", "CurvePoint", "RunResult"}


def __getattr__(name: str) -> Any:
    # torch loads only when the training loop is first asked for.
    if name in _LAZY:
        return getattr(importlib.import_module("trainer.loop"), name)
    raise AttributeError(f"module 'trainer' has no attribute {name!r}")
