# Referral lifecycle service. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

.PHONY: install
install: $(STAMP) ## Create the virtualenv and install the service with its dev tools

.PHONY: run
run: install ## Run the service on its embedded defaults (local broker + SQLite)
	$(BIN)/referrals dev

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
	$(BIN)/python -m pytest

.PHONY: bench
bench: install ## Measure the service against a raw Kafka passthrough, and tracing's cost (writes docs/benchmarks.md)
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.tracing --output docs/benchmarks.md
