"""Serving the API, validating run specs and counting their parameters import no torch
(the routes use the torch-free trainer.spec and trainer.accounting only)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from app.main import create_app
from app.settings import Settings
from app import specs
create_app(Settings(database_url="sqlite:///:memory:"))
spec = specs.validate_spec({"n_layer": 1, "d_model": 16, "n_head": 2, "seq_len": 32, "tokens": 4096,
                            "batch_tokens": 256, "lr": 1e-3, "data": "synthetic:markov"})
assert specs.accounting(spec)["n_params"] > 0
print("torch" in sys.modules)
"""


def test_api_and_spec_validation_do_not_import_torch():
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
