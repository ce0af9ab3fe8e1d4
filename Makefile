# Two commands: `make demo` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WORKSPACE ?= sourcegrid-workspace

.PHONY: demo test install install-dev java browser lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# PySpark needs a Java runtime (17 for Spark 4.x); install it when missing.
java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "Java runtime missing: installing openjdk-17-jre-headless"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; }

# Browser tests drive Debian's chromium (never a downloaded browser); install it when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "chromium missing: installing Debian's chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei; }

demo: install
	$(BIN)/sourcegrid demo --workspace $(WORKSPACE)

test: install-dev java browser
	$(BIN)/python -m pytest -q

lint: install-dev
	$(BIN)/ruff check src tests benchmarks

bench: install-dev
	$(BIN)/python benchmarks/accounting.py
	$(BIN)/python benchmarks/aqi.py
	$(BIN)/python benchmarks/grid.py

clean:
	rm -rf $(VENV) $(WORKSPACE) .pytest_cache test-artifacts
