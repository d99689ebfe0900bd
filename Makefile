# Referral lifecycle service. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
# `make run`'s own virtualenv: the service's lock plus the embedded broker, no dev tools.
RUN_VENV ?= .venv-run
RUN_LOCK := requirements-run.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(DEV_LOCK) | sha1sum | cut -c1-12)
RUN_STAMP := $(RUN_VENV)/.installed-$(shell cat pyproject.toml $(RUN_LOCK) | sha1sum | cut -c1-12)
# Every platform and Python from 3.11, with hashes: the same set on a laptop, in CI, in the image.
COMPILE = $(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	--generate-hashes --annotation-style line --custom-compile-command "make lock"

# The suite mostly waits on brokers, stores and child processes: four test processes (each
# with a broker of its own) finish it in far less time than one, even on two cores.
TEST_PROCESSES ?= 4

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes --no-deps -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	rm -f $(VENV)/.installed-* && touch $@

.PHONY: install
install: $(STAMP) ## Create the virtualenv and install the service with its dev tools, as locked

$(RUN_STAMP): pyproject.toml $(RUN_LOCK)
	$(PYTHON) -m venv $(RUN_VENV)
	$(RUN_VENV)/bin/pip install --quiet --upgrade pip
	$(RUN_VENV)/bin/pip install --quiet --require-hashes --no-deps -r $(RUN_LOCK)
	$(RUN_VENV)/bin/pip install --quiet --no-deps -e .
	$(RUN_VENV)/bin/pip check
	rm -f $(RUN_VENV)/.installed-* && touch $@

.PHONY: lock
lock: ## Refresh the lock files from pyproject.toml (the image installs requirements.lock)
	@test -x $(BIN)/uv || $(BIN)/pip install --quiet uv
	$(COMPILE) -o $(LOCK)
	$(COMPILE) --extra embedded -o $(RUN_LOCK)
	$(COMPILE) --extra dev -o $(DEV_LOCK)

.PHONY: run
run: $(RUN_STAMP) ## Run the service on its embedded defaults (local broker + SQLite), from .venv-run
	$(RUN_VENV)/bin/referrals dev

.PHONY: lint
lint: install ## ruff (lint + format check) and mypy --strict on state/ and service/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

.PHONY: fmt
fmt: install ## Format and auto-fix the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: postgres
postgres: ## Make sure the local PostgreSQL the tests use is running
	./scripts/ensure-postgres

.PHONY: test
test: lint postgres ## Run the linters and the whole test suite (needs PostgreSQL, started if down)
	$(BIN)/python -m pytest -n $(TEST_PROCESSES)

.PHONY: bench
bench: install ## Measure the service (1, 2 and the default workers; 3 rounds) against a raw Kafka passthrough, tracing's cost and poison records' (writes docs/benchmarks.md, ~10 min)
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.tracing --output docs/benchmarks.md
	$(BIN)/python -m bench.poison --output docs/benchmarks.md
