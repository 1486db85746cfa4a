# The two commands of the README: `make demo` and `make test`. Both build the virtualenv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

PYTEST_ARGS ?=

.PHONY: demo test lint typecheck unit integration bench bench-quick clean services-up services-down openapi lock

# Every package at the version and hash in the lock (transitive ones too), then lapor-es itself
# alone: its dependencies are the lock's, and the locked setuptools builds it (no isolated build
# environment with floating versions). Two invocations: with --require-hashes pip refuses an
# editable requirement, which has no hash.
$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

## Regenerate the hashed lock files from pyproject.toml (for Python 3.11 on Linux) with uv, in
## a virtualenv of its own under var/. Keeps the locked versions that still fit; to move every
## package to the newest that fits: make lock LOCK_ARGS=--upgrade
## requirements-build.lock (what builds lapor-es in deploy/Dockerfile): pyproject's build-system.
UV_VERSION := 0.13.9
LOCK_TOOL := var/lock-tool
LOCK_ARGS ?=
LOCK := $(LOCK_TOOL)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform linux --custom-compile-command "make lock" $(LOCK_ARGS)
lock:
	test -x $(LOCK_TOOL)/bin/uv || { $(PYTHON) -m venv $(LOCK_TOOL) \
		&& $(LOCK_TOOL)/bin/python -m pip install --quiet uv==$(UV_VERSION); }
	$(LOCK) pyproject.toml -o requirements.lock
	$(LOCK) pyproject.toml --extra dev -o requirements-dev.lock
	$(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		| $(LOCK) - -c requirements-dev.lock -o requirements-build.lock

## Load the national directory and run a sample lifecycle on the embedded SQLite store.
demo: $(STAMP)
	$(BIN)/lapor-es demo

## Lint, type-check and run every test (starts PostgreSQL from deploy/ when needed).
## The schemathesis fuzz runs in a process of its own: under pytest-xdist (PYTEST_ARGS=-n 2, as
## .ci/run does) schemathesis 4 fuzzed only the first operation of the document.
FUZZ := tests/integration/test_api_fuzz.py
test: $(STAMP) lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS) --ignore=$(FUZZ) tests
	$(BIN)/pytest -q -p no:cacheprovider $(FUZZ)

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
