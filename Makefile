# The project's commands. The README's two: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)

.PHONY: help demo test test-fast up down status infra-up infra-down infra-status infra-clean \
        check lint typecheck unit integration e2e chaos bootstrap clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

bootstrap: $(STAMP) ## create .venv with the pinned dependencies

demo: bootstrap ## the main job: run the gateway, send a payment mix, print a summary
	$(PY) -m harness demo

test: bootstrap infra-up check ## everything CI runs: lint, types, unit and integration tests
	$(PY) -m pytest

test-fast: bootstrap check ## lint, types, unit and contract tests over fakes: no services
	$(PY) -m pytest tests/unit tests/contract -m "not integration" -q

unit: bootstrap ## unit tests only (no sockets)
	$(PY) -m pytest tests/unit

integration: bootstrap infra-up ## integration tests against real Kafka, Redis, MongoDB wire
	$(PY) -m pytest tests/contract tests/integration

e2e: bootstrap infra-up ## end-to-end tests over HTTP through the API Gateway emulation
	$(PY) -m pytest tests/e2e

chaos: bootstrap ## fault-injection suite on its own stack (ports 3xxxx, .data-chaos), every scenario
	CHAOS_FULL=1 $(PY) -m pytest tests/chaos -m chaos --timeout 1800 -p no:cacheprovider

check: lint typecheck ## ruff and mypy

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: bootstrap
	$(VENV)/bin/mypy
	@# what Lambda runs (template.yaml: python3.12) type-checks against that version's stdlib too
	$(VENV)/bin/mypy --python-version 3.12 common functions

up: bootstrap ## start everything in the background and print what runs where
	$(PY) -m harness up

down: bootstrap ## stop everything we started
	$(PY) -m harness down

status: bootstrap ## what is running where
	$(PY) -m harness status

infra-up: bootstrap ## start Kafka, Redis and the MongoDB-wire server (idempotent)
	$(PY) -m harness infra up

infra-down: bootstrap ## stop the infrastructure we started (by pid)
	$(PY) -m harness infra down

infra-status: bootstrap
	$(PY) -m harness infra status

infra-clean: infra-down ## stop and delete the local data folder (.data)
	rm -rf .data

clean: ## remove caches of the tools (not the downloads in ~/.cache/paygate)
	rm -rf .pytest_cache .mypy_cache .ruff_cache

# AWS SAM: aws-sam-cli and cfn-lint in their own venv (they pin many versions of their own),
# kept under ~/.cache/paygate with the other downloads so that a fresh clone reuses it.
# No Docker: sam build uses functions/Makefile (one artifact per function), samconfig.toml.
SAM_VENV ?= $(HOME)/.cache/paygate/sam-tools-$(shell sha256sum requirements-sam.txt | cut -c1-12)
SAM_STAMP := $(SAM_VENV)/.installed
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
.PHONY: sam-tools sam-validate sam-build

$(SAM_STAMP): requirements-sam.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-sam.txt
	@touch $@

sam-tools: $(SAM_STAMP) ## aws-sam-cli and cfn-lint in their own venv (requirements-sam.txt)

sam-validate: sam-tools ## cfn-lint and sam validate --lint of template.yaml
	$(SAM_VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint

sam-build: sam-tools ## sam build: one artifact per function in .aws-sam/build
	$(SAM) build

# Benchmarks (issue 7): on their own port set and data folder (bench/stack_env.py); not part
# of make test, whose e2e suite runs `make bench-smoke`'s pass (tests/e2e/test_bench_smoke.py).
.PHONY: bench bench-smoke
bench: bootstrap ## benchmarks → docs/benchmarks/ (about 25 min on an idle machine; needs wrk, installs it)
	$(PY) -m bench

bench-smoke: bootstrap ## the benchmark machinery with 1-2 s per scenario (report in a temp dir)
	$(PY) -m pytest tests/e2e/test_bench_smoke.py
