# The two commands of the README: `make demo` and `make test`. Both build the virtualenv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration bench bench-quick clean services-up services-down openapi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Load the national directory and run a sample lifecycle on the embedded SQLite store.
demo: $(STAMP)
	$(BIN)/lapor-es demo

## Lint, type-check and run every test (starts PostgreSQL from deploy/ when needed).
test: $(STAMP) lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider tests

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools examples
	$(BIN)/ruff format --check src tests bench tools examples
	$(BIN)/lint-imports  # the dependency rules in pyproject.toml [tool.importlinter]

typecheck: $(STAMP)
	$(BIN)/mypy

## Regenerate docs/openapi.json from the HTTP door's routes (a unit test fails while stale).
openapi: $(STAMP)
	$(BIN)/python -m lapor_es.api.openapi docs/openapi.json

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/pytest -q tests/integration tests/e2e

## Every benchmark beside its raw baseline: one table and bench/results.json (bench/run.py).
bench: $(STAMP)
	$(BIN)/python bench/run.py

## The same at small sizes (a few minutes).
bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

services-up:
	deploy/postgres/pg start

services-down:
	deploy/postgres/pg stop

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
