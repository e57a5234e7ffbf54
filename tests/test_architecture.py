"""The one-way dependencies of DESIGN.md hold: fitting/ imports no torch, SQL, web or plotting
library, trainer/ no SQL or web library, neither imports app/ (import-linter contracts in
pyproject.toml); and the fitting library loads without torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_fitting_loads_without_heavy_libraries():
    code = "import sys, fitting; print(sorted(m for m in ('torch', 'sqlalchemy', 'fastapi', 'matplotlib', 'pandas') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
