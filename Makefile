# Two commands do everything (see README): `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DBT := $(BIN)/dbt
# llama.cpp built with native flags segfaults on these CPUs (AVX-512/AMX): build it portable. Its
# multimodal library (mtmd: images and audio) is left out: the project sends text only, and it is 53
# of the 193 compile steps (first install 250 s to 208 s here).
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF
export DBT_PROFILES_DIR := $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: install run test test-fast dbt-test docs-check lint lint-sql lint-types pytest bench bench-ray bench-data-side clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,ray]'
	touch $@

# The main job on the embedded defaults: extract (mock CRM), dbt build, print every client's messages.
run: install
	$(BIN)/python -m python_udfs.pipeline

# Everything CI checks: lint and types, pytest, then the whole dbt build (every data and unit test) on
# a fresh database, then the documentation bar (every model, seed, source and column documented).
test: lint pytest dbt-test docs-check

# The edit-run loop: lint and the tests that need no dbt build, model or server.
test-fast: lint
	$(BIN)/pytest -q -n 2 -m "not slow"

TEST_DB := MARKETING_DUCKDB_PATH=target/test-db/marketing.duckdb MARKETING_CACHE_PATH=target/test-db/llm_cache.duckdb

dbt-test: install
	rm -rf target/test-db
	$(TEST_DB) $(BIN)/python -m python_udfs.pipeline --unit-tests

# In dbt-test's target/ and on its database: dbt reuses that run's parse instead of parsing again.
docs-check: install
	$(TEST_DB) $(DBT) docs generate --quiet
	$(BIN)/python tools/check_dbt_docs.py target

# sqlfluff and mypy side by side (mypy runs on one core; sqlfluff renders the models on one, then
# lints on both), each target's output kept together.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory -j2 --output-sync=target lint-sql lint-types

# Macros are Jinja definitions the dbt templater cannot render on their own: it lints what uses them.
# It renders against the database, so an incremental model is linted as a first build before
# `make run` and as an incremental one after: both must pass.
lint-sql: install
	$(BIN)/sqlfluff lint --processes 0 models tests/dbt

lint-types: install
	$(BIN)/mypy python_udfs

# Two workers (pytest-xdist; tests/conftest.py says which tests stay together), then, by themselves,
# the tests of the embedded model (tests/embedded/), which slows many times over when anything else runs.
pytest: install
	$(BIN)/pytest -q -n 2 --dist loadgroup -m "not alone"
	$(BIN)/pytest -q -m alone tests/embedded

clean:
	rm -rf target logs data/marketing.duckdb data/marketing.duckdb.wal

# Not part of the tests: regenerates docs/BENCHMARKS.md and bench/results/latest.json. Every section
# by default; `make bench BENCH_ARGS="--sections throughput"` re-measures some, keeping the others,
# and BENCH_ARGS="--scale-sizes 10000,100000" leaves out the million-client build (about 8 minutes).
BENCH_ARGS ?=
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Not part of the tests: the Ray engine with 1, 2 and 4 actors beside the in-process engines;
# writes bench/results/ray_scaling.json (docs/SCALING.md quotes it).
bench-ray: install
	$(BIN)/python -m bench.ray_scaling

# Not part of the tests: the shaping models alone (no model, no cache) at 1M and 10M clients; writes
# bench/results/data_side.json (docs/SCALING.md quotes it). About 15 minutes.
# BENCH_DATA_ARGS="--cached --sizes 10000000 --memory-limit 16GB": the whole build with every
# message cached instead (about 25 minutes and 17 GB at 10M).
bench-data-side: install
	$(BIN)/python -m bench.data_side $(BENCH_DATA_ARGS)

# Not part of the tests: the quality benchmark on the embedded model; writes docs/QUALITY.md and
# evaluation/results/latest.json (about 10 minutes on 2 cores).
.PHONY: eval
eval: install
	$(BIN)/python -m evaluation.run
