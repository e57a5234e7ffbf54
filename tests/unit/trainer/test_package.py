"""The package layout: trainer.loop is the training-loop module, `trainer.train` stays the function
after that module is imported, and `import trainer, trainer.spec` does not import torch."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import trainer


def test_loop_module_and_train_function_keep_their_names():
    loop = importlib.import_module("trainer.loop")
    assert isinstance(loop, types.ModuleType)
    assert isinstance(loop.train, types.FunctionType)
    assert trainer.train is loop.train  # importing the submodule swaps nothing
    from trainer import train

    assert train is loop.train


def test_importing_the_package_and_spec_does_not_import_torch():
    code = "import trainer, trainer.spec; import sys; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
