# Switchboard: `make run` starts the whole thing on the embedded default; `make test` checks it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?= --durations=15

.PHONY: run test lint test-sqlite test-postgres format venv clean

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# The console's browser libraries (socket.io-client) from package-lock.json; again only when it changes.
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# The message catalogues: .po (in git) to .mo (build output), whenever a .po is newer.
MO_FILES := $(patsubst %.po,%.mo,$(wildcard hub/translations/*/LC_MESSAGES/messages.po))
$(MO_FILES): %.mo: %.po | $(BIN)/.installed
	$(BIN)/python -m hub.i18n compile --force

venv: $(BIN)/.installed node_modules/.package-lock.json $(MO_FILES)

run: venv
	$(BIN)/switchboard serve

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python tools/check_rules.py
	$(BIN)/python tools/check_i18n.py
	@tmp=$$(mktemp -d) && SWITCHBOARD_VAR_DIR=$$tmp SWITCHBOARD_DATABASE_URL=sqlite:///$$tmp/check.sqlite3 \
	  bash -c '$(BIN)/switchboard db upgrade >/dev/null && $(BIN)/switchboard db check'; rc=$$?; rm -rf $$tmp; exit $$rc

test-sqlite: venv
	env -u SWITCHBOARD_TEST_DATABASE_URL $(BIN)/python -m pytest $(PYTEST_ARGS)

# PostgreSQL is part of `make test`. Outside CI a missing server is skipped loudly; in CI it fails.
# The browser tests (tests/e2e) drive the pages; they run once, in the SQLite pass: what
# depends on the database (record rules, locking, SKIP LOCKED, full-text search) is covered
# by the integration tests, which run in both passes. PG_PYTEST_ARGS= runs them here too.
PG_PYTEST_ARGS ?= --ignore=tests/e2e
test-postgres: venv
	@if $(BIN)/python tools/pg_ready.py '$(PG_TEST_URL)'; then \
	  echo "PostgreSQL pass: $(PG_TEST_URL) $(PG_PYTEST_ARGS) (the browser tests ran in the SQLite pass)"; \
	  SWITCHBOARD_TEST_DATABASE_URL='$(PG_TEST_URL)' $(BIN)/python -m pytest $(PG_PYTEST_ARGS) $(PYTEST_ARGS); \
	elif [ "$$CI" = "true" ]; then \
	  echo "PostgreSQL at $(PG_TEST_URL) is required in CI and is not answering" >&2; exit 1; \
	else \
	  echo "**************************************************************"; \
	  echo "SKIPPED: the PostgreSQL run (no server at $(PG_TEST_URL))."; \
	  echo "Start one or set PG_TEST_URL; CI runs it."; \
	  echo "**************************************************************"; \
	fi

test: lint test-sqlite test-postgres

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
