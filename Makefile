# The README's two commands are `make run` and `make test`; everything else is a step of them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# the whole suite on two workers, each test file on one of them (pytest-xdist); TEST_PARALLEL=
# (empty) runs it in one process
TEST_PARALLEL ?= -n 2 --dist loadfile
# extra arguments for `recsys pipeline`, e.g. PIPELINE_ARGS="-p epochs 5"
PIPELINE_ARGS ?=

.PHONY: setup run test test-fast bench budget lab clean-var notebooks-url opensearch opensearch-secure \
        opensearch-cluster opensearch-stop stack

## setup: create .venv and install the package with every extra (idempotent)
setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[all]"
	touch $(STAMP)

## run: set up, fetch the CSVs if the data folder has none, run the whole notebook pipeline
run: setup
	$(BIN)/recsys data fetch
	$(BIN)/recsys pipeline $(PIPELINE_ARGS)

## test: set up, lint (ruff), type-check (mypy) and run the test suite
test: setup
	$(BIN)/ruff check recsys tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest $(TEST_PARALLEL)

## test-fast: the edit loop: lint, types and the tests that start no server and train no
## network (pytest -m fast; under 2 minutes). `make test` runs every test.
test-fast: setup
	$(BIN)/ruff check recsys tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -m fast

## budget: what a user waits for, each against its budget (bench/budget.py; about 30 minutes)
budget: setup
	$(BIN)/python bench/budget.py

## bench: the benchmarks (minutes; results go to bench/RESULTS.md by hand)
bench: setup
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/model.py
	$(BIN)/python bench/vectors.py
	$(BIN)/python bench/batch.py
	$(BIN)/python bench/api.py

## lab: JupyterLab on the notebooks
lab: setup
	$(BIN)/jupyter lab notebooks/

## opensearch: a local OpenSearch node (k-NN, ML Commons) on a free port, fetched once from
## Maven Central into ~/.cache/recsys (as root: /var/cache/recsys); prints RECSYS_OPENSEARCH_URL
opensearch: setup
	$(BIN)/python -m recsys.testing.opensearch_cli start

## opensearch-secure: the same with TLS (demo certificates) and OPENSEARCH_ADMIN_PASSWORD
opensearch-secure: setup
	$(BIN)/python -m recsys.testing.opensearch_cli start --security

## opensearch-cluster: three OpenSearch nodes forming one cluster on loopback (256 MB heap
## each); prints RECSYS_OPENSEARCH_URL with every node's URL, comma-separated
opensearch-cluster: setup
	$(BIN)/python -m recsys.testing.opensearch_cli start --nodes 3

## opensearch-stop: stop the node (or cluster) started by make opensearch[-cluster]
opensearch-stop: setup
	$(BIN)/python -m recsys.testing.opensearch_cli stop

## stack: the full stack without Docker: PostgreSQL + OpenSearch, the pipeline, then the API
stack: setup
	$(BIN)/recsys data fetch
	$(BIN)/python -m recsys.testing.stack $(PIPELINE_ARGS)

## notebooks-url: stamp the notebooks' Colab badges and repo_url from pyproject's Repository
notebooks-url: setup
	$(BIN)/python -m recsys.pipeline.notebook

clean-var:
	rm -rf var runs
