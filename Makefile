# Set-up and everyday commands. `make build` then `make test` on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: build bytecode install test bench lint format golden clean

build: bytecode
	$(BIN)/newsletter build

# pip compiles every package it installs except an editable one; compile ours too, so a command
# does not recompile the package from source each time (about 50 ms when bytecode is not
# written, as with PYTHONDONTWRITEBYTECODE=1). Only changed modules are recompiled.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q newsletter

# The virtualenv is (re)made when pyproject.toml changes. Debian splits venv out of python3:
# install it when missing (needs root, as on CI).
$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		echo "python3-venv is missing; installing it with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
		&& $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)
# (hatchling's editable install is a path entry, not an import hook: 40 ms less per command)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest

bench: bytecode
	@set -e; for script in tests/benchmarks/bench_*.py; do \
		echo "== $$script"; $(BIN)/python $$script; done

# ruff (style and errors), mypy --strict (types), import-linter (the layers in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check newsletter tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format newsletter tests

# Regenerate the golden files after an intended rendering change; review the diff.
golden: $(STAMP)
	NEWSLETTER_UPDATE_GOLDEN=1 $(BIN)/pytest tests/test_golden.py -q

clean:
	rm -rf $(VENV) dist build *.egg-info .pytest_cache .ruff_cache .hypothesis tests/artifacts
	find newsletter tests -name __pycache__ -prune -exec rm -rf {} +
