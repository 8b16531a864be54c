# Espace Famille — every command installs what it needs on a fresh machine (Python 3.11+ is all it takes).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
PORT ?= 3000
# The browser tests drive Debian's Chromium (no browser download at test time).
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM
export AWS_DEFAULT_REGION ?= eu-west-3
# sam build needs the runtime's interpreter (python3.13); pyenv exposes it next to the default one.
export PYENV_VERSION ?= 3.11.7:3.12.1:3.13.0
export SAM_CLI_TELEMETRY := 0

.PHONY: help venv sam-venv run test lint unit integration packaging e2e chromium build bench mutate requirements openapi fuzz clean

help:
	@echo "make run    - the portal with demo data on http://127.0.0.1:$(PORT), PayFiP's emulator on :3001 (PAYFIP_PORT)"
	@echo "make test   - lint, unit, integration, packaging and browser tests (what CI runs)"
	@echo "make e2e    - the browser tests alone (Chromium, Playwright, axe-core)"
	@echo "make build  - sam build (in its own venv)"
	@echo "make bench  - benchmarks; figures go in docs/benchmarks.md"
	@echo "make mutate - mutation testing of the guarding modules (MUTATE='claims links' for some; slow)"
	@echo "make openapi - regenerate docs/openapi.json from the handlers (a test fails when it is stale)"
	@echo "make fuzz   - schemathesis against docs/openapi.json on a local stack, longer than in make test"

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is missing: install Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

$(SAM_VENV)/.installed: infra/requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r infra/requirements-sam.txt
	touch $@

sam-venv: $(SAM_VENV)/.installed

run: venv
	@PORT=$(PORT) $(PY) -m infra.local

requirements: venv
	$(PY) -m infra.layer_requirements

lint: venv sam-venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared infra tests
	@# every function's module is named app: one mypy run each
	for f in functions/*/app.py; do $(VENV)/bin/mypy $$f || exit 1; done
	$(PY) -m infra.layer_requirements --check
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint --template template.yaml

unit: venv
	$(PY) -m pytest tests/unit -q

integration: venv
	$(PY) -m pytest tests/integration tests/gateway -q

packaging: venv sam-venv
	SAM=$(abspath $(SAM)) $(PY) -m pytest tests/packaging -q

# Debian's chromium, installed when missing if we are root; otherwise say what to install and fail.
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else \
	    echo "Chromium is missing at $(CHROMIUM): install Debian's chromium (sudo apt-get install --no-install-recommends chromium)"; \
	    echo "or point CHROMIUM at a Chromium binary, then run make test again."; \
	    exit 1; \
	  fi; \
	fi

e2e: venv chromium
	$(PY) -m pytest tests/e2e -q

test: lint chromium
	SAM=$(abspath $(SAM)) $(PY) -m pytest -q

build: sam-venv
	$(SAM) build --template template.yaml

bench: venv
	$(PY) -m bench

openapi: venv
	$(PY) -m infra.openapi

# make test runs a short schemathesis pass (tests/integration/test_schemathesis.py); this one runs longer.
FUZZ_EXAMPLES ?= 200
FUZZ_SCENARIOS ?= 300
fuzz: venv
	$(PY) -m tests.fuzz --max-examples $(FUZZ_EXAMPLES) --stateful-examples $(FUZZ_SCENARIOS)

# Not part of `make test`: one test run per mutant. Edits sources in place while it runs (see docs/testing.md).
MUTATE ?=
mutate: venv
	$(PY) -m tests.mutate $(MUTATE)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .local test-artifacts .mutmut-cache .mutate-conditions.json html .schemathesis
