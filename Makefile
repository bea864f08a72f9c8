# The two Quick-start commands (README): `make demo` and `make test`.
# Each creates the virtual environment and installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo example test lint clean

# Two stamps: the demo needs only the CLI and the TUI (SQLite is in the standard
# library); the test and lint targets add the test tools (pytest, mypy, ruff, ...).
$(BIN)/.demo-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[cli,tui]'
	touch $@

$(BIN)/.installed: pyproject.toml $(BIN)/.demo-installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/.demo-installed
	$(BIN)/wg demo

example: $(BIN)/.demo-installed
	$(BIN)/python examples/quickstart.py

# Four test processes (pytest-xdist): most of the suite waits on servers, not the CPU.
test: $(BIN)/.installed
	$(BIN)/python -m pytest -n 4

lint: $(BIN)/.installed
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	$(BIN)/python -m mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
