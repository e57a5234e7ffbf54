# Two entry points for a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch; a GPU machine can override it, e.g. TORCH_SPEC="torch>=2.3".
TORCH_SPEC ?= torch==2.13.0
# Two install stamps: the demo needs hyperlaw and its runtime dependencies only; the tests and the
# linters also need the dev tools and Ray (the `cluster` extra).
BASE_STAMP := $(VENV)/.hyperlaw-base
DEV_STAMP := $(VENV)/.hyperlaw-dev

.PHONY: demo test test-tools lint bench clean

$(BASE_STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "$(TORCH_SPEC)"
	$(PY) -m pip install -e .
	touch $(BASE_STAMP)

$(DEV_STAMP): $(BASE_STAMP)
	$(PY) -m pip install -e ".[dev,cluster]"
	touch $(DEV_STAMP)

demo: $(BASE_STAMP)
	$(VENV)/bin/hyperlaw demo

# The dashboard's browser test drives Debian's chromium (nothing downloads a browser) and the PDF
# report test converts a page with poppler's pdftoppm: installed here when running as root; else
# the command to install them is printed, and those tests skip saying why.
test-tools:
	@if [ -x /usr/bin/chromium ] && command -v pdftoppm >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium poppler-utils; \
	else \
		echo "chromium or pdftoppm is missing: sudo apt-get install -y chromium poppler-utils"; \
	fi

test: $(DEV_STAMP) test-tools
	$(PY) -m pytest

LINT_PATHS := app fitting trainer tests bench migrations

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info
