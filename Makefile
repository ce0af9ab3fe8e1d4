# Two commands: `make demo` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WORKSPACE ?= sourcegrid-workspace

.PHONY: demo test install install-dev java browser postgres lint bench clean

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

# The PostgreSQL tests run on a throw-away server of Debian's PostgreSQL; install it when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1 || { \
	  echo "PostgreSQL missing: installing Debian's postgresql"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

demo: install
	$(BIN)/sourcegrid demo --workspace $(WORKSPACE)

# pytest runs against a PostgreSQL server started for it (scripts/pg-test-server) and
# stopped on any exit, pytest failing included; SOURCEGRID_REQUIRE_PG=1 makes a missing
# server fail the PostgreSQL tests instead of skipping them. The tests run in
# TEST_WORKERS processes (pytest-xdist), a whole test file to one process so that its
# fixtures are built once; TEST_WORKERS=0 runs them in this process alone.
TEST_WORKERS ?= 2
test: install-dev java browser postgres
	@pgdir=$$(mktemp -d "$${TMPDIR:-/tmp}/sourcegrid-pg.XXXXXX"); \
	trap 'scripts/pg-test-server stop "$$pgdir"' EXIT INT TERM; \
	dsn=$$(scripts/pg-test-server start "$$pgdir") || exit 1; \
	echo "PostgreSQL test server: $$dsn"; \
	SOURCEGRID_TEST_PG_DSN="$$dsn" SOURCEGRID_REQUIRE_PG=1 $(BIN)/python -m pytest -q \
	  -n $(TEST_WORKERS) --dist loadfile --durations=15 $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check src tests benchmarks

bench: install-dev
	$(BIN)/python benchmarks/accounting.py
	$(BIN)/python benchmarks/aqi.py
	$(BIN)/python benchmarks/grid.py

clean:
	rm -rf $(VENV) $(WORKSPACE) .pytest_cache test-artifacts
