# Two entry points for a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch; a GPU machine can override it, e.g. TORCH_SPEC="torch>=2.3".
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.hyperlaw-installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "$(TORCH_SPEC)"
	$(PY) -m pip install -e ".[dev,cluster]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hyperlaw demo

test: $(STAMP)
	$(PY) -m pytest

LINT_PATHS := app fitting trainer tests bench migrations

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info
