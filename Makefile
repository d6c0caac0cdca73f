# Two commands: `make run` serves jobstream with an embedded NATS; `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
# the suite waits mostly on fsyncs, subprocesses and browsers: two processes run it in about
# three quarters of the time one takes (591 s against 772 s, measured on a busy machine)
TEST_PROCESSES ?= 2

.PHONY: run test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -c "import cli.main, litestar, nats, aiosqlite, selectolax, pytest"
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,bench]' 2>&1 | grep -v '^WARNING: Location' || true
	touch $(BENCH_STAMP)

run: $(STAMP)
	$(BIN)/jobstream serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -n $(TEST_PROCESSES)

bench: $(BENCH_STAMP)
	$(BIN)/python bench/commands.py
	$(BIN)/python bench/crawl.py
	$(BIN)/python bench/batch.py
	$(BIN)/python bench/spider.py
	$(BIN)/python bench/jobs.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
