# releval-judge: `make run` serves on an embedded PostgreSQL, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What is installed in .venv: the runtime dependencies only (run, demo, sim), or the dev
# extras as well (test, bench). A user who only serves never downloads test tooling.
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: install install-dev system-packages run test lint typecheck demo sim bench bench-quick clean

install: $(RUNTIME)
install-dev: $(DEV)

# uv installs the project in a few seconds where pip spends half a minute resolving
# (docs/decisions.md, "Installing"). It is bootstrapped into the venv with the system
# Python's pip; without `pip --python` (pip < 22.3), through a venv that has its own pip.
$(BIN)/uv:
	@test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(BIN)/python install --quiet --no-compile uv \
	  || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet uv; }

# pip goes in too, so that `.venv/bin/pip` works as people expect of a venv.
$(RUNTIME): pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e . pip
	touch $@

$(DEV): pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]' pip
	touch $@ $(RUNTIME)

# nginx and chromium for the gateway and browser tests: installed when missing (as root
# with apt), otherwise one line says which command to run. Used by `.ci/run` through here.
system-packages:
	@scripts/system-packages

run: install
	$(BIN)/releval-judge serve

lint: install-dev
	$(BIN)/ruff check releval_judge tests bench
	$(BIN)/ruff format --check releval_judge tests bench
	$(BIN)/lint-imports

typecheck: install-dev
	$(BIN)/mypy releval_judge tests bench

test: system-packages lint typecheck
	$(BIN)/pytest -q

sim: install
	$(BIN)/releval-judge sim

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .grimp_cache .import_linter_cache

# The demo, and the benchmarks (figures, never pass/fail; how each is measured:
# docs/benchmarks.md). Options pass through: make demo ARGS="--sample small --keep";
# make bench ARGS="--only cancel".
demo: install
	$(BIN)/releval-judge demo $(ARGS)

bench: install-dev
	$(BIN)/python -m bench.run $(ARGS)

bench-quick: install-dev
	$(BIN)/python -m bench.run --quick $(ARGS)
