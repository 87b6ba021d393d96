# Outcome TTP. `make run` serves on 127.0.0.1:8000 (SQLite under ./var); `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint openapi install clean bench

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server,dev]'
	touch $(STAMP)

install: $(STAMP)

# WARNING by default so the banner with the URL and the demo accounts stays on screen
# (TTP_LOG_LEVEL=INFO make run shows a JSON line per request).
run: $(STAMP)
	TTP_LOG_LEVEL=$${TTP_LOG_LEVEL:-WARNING} $(BIN)/ttp serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# pytest-xdist workers: one per core (each has its own SQLite templates and its own throwaway
# PostgreSQL cluster); `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= auto

# mypy runs beside pytest (the tests spend much of their time waiting on served processes), and
# either failing fails the target.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy & typecheck=$$!; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal; tests=$$?; \
	wait $$typecheck; types=$$?; \
	if [ $$types -ne 0 ]; then echo "make test: mypy found problems (above)"; fi; \
	exit $$(( tests != 0 || types != 0 ))

# The inner loop: ruff, then the tests not marked slow, on SQLite only, on every core.
# `make test` runs everything on both databases.
test-fast: $(STAMP)
	$(BIN)/ruff check .
	TTP_TEST_BACKENDS=sqlite $(BIN)/python -m pytest -m "not slow" -n $(TEST_WORKERS) --dist worksteal

openapi: $(STAMP)
	$(BIN)/python -m app.openapi_document

clean:
	rm -rf var .pytest_cache
