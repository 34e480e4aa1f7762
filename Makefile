# jsm-bridge — every install step lives here: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# two workers; an idle one takes tests queued for the other, so a slow test queued late
# does not keep one core busy while the other waits
PYTEST_ARGS := -n 2 --dist worksteal

.PHONY: all install browser test lint typecheck unit demo sandbox bench clean

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

# The report's browser test takes screenshots with headless Chromium (Debian's package,
# with a font).  Installed here when missing and running as root (CI, a fresh machine);
# otherwise that one test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the report's browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium fonts-dejavu-core >/dev/null; \
	  else echo "note: chromium is missing and this is not root: the browser test is skipped"; fi; }

unit: $(STAMP) browser
	$(BIN)/pytest $(PYTEST_ARGS) tests

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
