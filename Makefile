# The README's two commands are `make run` and `make test`; everything else is a step of them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup run test ingest bench clean-var

## setup: create .venv and install the package with every extra (idempotent)
setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[all]"
	touch $(STAMP)

## run: set up, fetch the CSVs if the data folder has none, and run the main job
run: setup
	$(BIN)/recsys data fetch
	$(BIN)/recsys ingest

## test: set up and run the test suite
test: setup
	$(BIN)/python -m pytest

## bench: run the benchmarks and print their results (see bench/RESULTS.md)
bench: setup
	$(BIN)/python bench/ingest.py

clean-var:
	rm -rf var
