"""A broken row in a copy of the seeds makes the matching dbt data test fail, naming the row."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
DBT = Path(sys.executable).with_name("dbt")

BROKEN_ROWS = (
    "3,Pedro Duplicado,52998224725\n"  # client_id 3 a second time
    "7,Bruno,123.456.78X-00\n"  # a CPF with a letter in it
)


@pytest.fixture(scope="module")
def broken_build(tmp_path_factory) -> subprocess.CompletedProcess:
    project = tmp_path_factory.mktemp("broken_project")
    for folder in ("macros", "seeds", "models/staging"):
        shutil.copytree(PROJECT / folder, project / folder)
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(PROJECT / name, project / name)
    seed = project / "seeds" / "raw_clients.csv"
    seed.write_text(seed.read_text(encoding="utf-8") + BROKEN_ROWS, encoding="utf-8")
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(project),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MARKETING_DUCKDB_PATH": str(project / "marketing.duckdb"),
        "MARKETING_CACHE_PATH": str(project / "llm_cache.duckdb"),
    }
    return subprocess.run(
        [str(DBT), "build", "--select", "+stg_client_files__clients", "--indirect-selection", "cautious"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_build_fails(broken_build):
    assert broken_build.returncode == 1, broken_build.stdout


def test_duplicate_id_fails_its_test_and_names_the_row(broken_build):
    out = broken_build.stdout
    assert "FAIL 1 expression_is_true_stg_clients_source_row_count___1" in out
    assert "expression_is_true(stg_client_files__clients.source_row_count) failing row: client_id=3" in out


def test_malformed_cpf_fails_its_test_and_names_the_row(broken_build):
    out = broken_build.stdout
    assert "FAIL 1 expression_is_true_stg_clients_is_cpf_malformed___false" in out
    assert "expression_is_true(stg_client_files__clients.is_cpf_malformed) failing row: client_id=7" in out


def test_deduplication_still_leaves_one_row_per_client(broken_build):
    assert "PASS unique_stg_clients_client_id" in broken_build.stdout


def test_output_never_shows_a_raw_cpf(broken_build):
    out = broken_build.stdout
    for raw in ("123.456.78X-00", "52998224725", "12345678910"):
        assert raw not in out
