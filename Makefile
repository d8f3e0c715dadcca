# Two commands do everything (see README): `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DBT := $(BIN)/dbt
# llama.cpp built with native flags segfaults on these CPUs (AVX-512/AMX): build it portable.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export DBT_PROFILES_DIR := $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: install run build test lint pytest dbt-test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint models macros tests/dbt

pytest: install
	$(BIN)/pytest -q

clean:
	rm -rf target logs data/marketing.duckdb data/marketing.duckdb.wal
