PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CONFIG := $(if $(wildcard config.toml),config.toml,config.example.toml)

.PHONY: run test lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(if $(wildcard config.toml),,$(BIN)/kefu --config $(CONFIG) orders import storage/sample_orders.csv)

	$(BIN)/kefu --config $(CONFIG) run


lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) data build *.egg-info
