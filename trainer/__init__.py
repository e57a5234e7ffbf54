"""hyperlaw.trainer: proxy GPT models trained with PyTorch.

Public API::

    from trainer import RunSpec, train, count_params, flops_per_token, shape_for_params, CurvePoint, RunResult

    spec = RunSpec(n_layer=4, d_model=256, n_head=4, seq_len=256, tokens=50_000_000, batch_tokens=65_536,
                   lr=3e-3, data="pystdlib")
    result = train(spec, on_point=print, checkpoint_dir="ckpt/", resume=True)

RunSpec, count_params, flops_per_token and shape_for_params are torch-free, so importing them
(or `trainer.spec`) does not import torch; train, CurvePoint and RunResult import torch on first
use.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from trainer.accounting import FlopCount, ParamCount, Shape, count_params, flops_per_token, shape_for_params
from trainer.spec import RunSpec

if TYPE_CHECKING:
    from trainer.train import CurvePoint, RunResult, train

__all__ = [
    "CurvePoint",
    "FlopCount",
    "ParamCount",
    "RunResult",
    "RunSpec",
    "Shape",
    "count_params",
    "flops_per_token",
    "shape_for_params",
    "train",
]

_LAZY = {"train", "CurvePoint", "RunResult"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module("trainer.train")  # sets the attribute `train`: see _Package
        return getattr(module, name)
    raise AttributeError(f"module 'trainer' has no attribute {name!r}")


class _Package(types.ModuleType):
    """The function train and the module trainer.train share a name. Importing the submodule sets
    the package attribute `train` to the module; this keeps the function there instead, so
    `from trainer import train` always gives the function."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "train" and isinstance(value, types.ModuleType):
            value = value.train
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
