# jsm-bridge — every install step lives here: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all install test lint typecheck unit demo sandbox bench clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check bridge tests bench
	$(BIN)/ruff format --check bridge tests bench

typecheck: $(STAMP)
	$(BIN)/mypy bridge

unit: $(STAMP)
	$(BIN)/pytest -n 2 tests

# The README's test command: lint, types, layer contract and the whole suite.
test: lint typecheck unit

demo: $(STAMP)
	$(BIN)/jsm-bridge demo

sandbox: $(STAMP)
	$(BIN)/jsm-bridge sandbox --seed demo

bench: $(STAMP)
	$(BIN)/python bench/clock.py
	$(BIN)/python bench/cycle.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
