# releval-judge: `make run` serves on an embedded PostgreSQL, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck unit demo sim bench bench-quick clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/releval-judge serve

lint: install
	$(BIN)/ruff check releval_judge tests bench
	$(BIN)/ruff format --check releval_judge tests bench

typecheck: install
	$(BIN)/mypy releval_judge tests bench

test: lint typecheck
	$(BIN)/pytest -q

sim: install
	$(BIN)/releval-judge sim

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# The demo, and the benchmarks (figures, never pass/fail; see /work/shared/BENCHMARKS.md).
# Options pass through: make demo ARGS="--sample small --keep"; make bench ARGS="--only cancel".
demo: install
	$(BIN)/releval-judge demo $(ARGS)

bench: install
	$(BIN)/python -m bench.run $(ARGS)

bench-quick: install
	$(BIN)/python -m bench.run --quick $(ARGS)
