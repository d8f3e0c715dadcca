"""Broken rows in a copy of the demo seed: set aside with their line and reason, and, being more than
the allowed share, the build stops before any mart, naming the first ones and never a raw CPF."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability_support import copy_project

DBT = Path(sys.executable).with_name("dbt")

BROKEN_ROWS = (
    "3,Pedro Duplicado,52998224725\n"  # line 8: client_id 3 a second time, with another name and CPF
    "7,Bruno,123.456.78X-00\n"  # line 9: a CPF with a letter in it
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def broken_project(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("broken_project")


@pytest.fixture(scope="module")
def broken_build(broken_project) -> subprocess.CompletedProcess:
    project = copy_project(broken_project)
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
        [str(DBT), "build", "--select", "+clients", "--indirect-selection", "cautious"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_build_fails_before_the_marts(broken_build):
    out = broken_build.stdout
    assert broken_build.returncode == 1, out
    assert "SKIP relation main.stg_client_files__clients" in out
    assert "SKIP relation main.clients" in out


def test_the_share_of_rows_set_aside_is_named_with_the_first_rows(broken_build):
    out = broken_build.stdout
    assert "rejected_share_at_most(clients): 3 of 8 clients rows set aside" in out
    label = "rejected_share_at_most(clients) failing row: source_file=seeds/raw_clients.csv"
    assert f"{label}, line_number=4, column_name=id, reason=duplicate_id, raw_value=3" in out
    assert f"{label}, line_number=8, column_name=id, reason=duplicate_id, raw_value=3" in out
    assert f"{label}, line_number=9, column_name=CPF, reason=cpf_malformed, raw_value=###.###.##X-##" in out


def test_only_the_tests_that_fail_or_warn_query_their_failing_rows(broken_build, broken_project):
    out = broken_build.stdout
    label = "is_empty(rejected_client_rows) failing row: file_kind=clients, source_file=seeds/raw_clients.csv"
    assert f"{label}, line_number=9, column_name=CPF, reason=cpf_malformed, raw_value=###.###.##X-##" in out
    assert out.count(" failing row: ") == 6, out
    # The preview is a second query, run by the test materialization for the warning and the failure
    # alone: every passing test is one query.
    log = (broken_project / "logs" / "dbt.log").read_text(encoding="utf-8")
    assert log.count(") as failures order by all limit 5") == 2


def test_every_data_test_asks_for_its_failing_rows(broken_build, broken_project):
    manifest = json.loads((broken_project / "target" / "manifest.json").read_text(encoding="utf-8"))
    tests = [node for node in manifest["nodes"].values() if node["resource_type"] == "test"]
    silent = [node["name"] for node in tests if not node["config"]["meta"].get("print_failing_rows")]
    assert tests and silent == []
    used = {node["test_metadata"]["name"] for node in tests if node.get("test_metadata")}
    assert {"unique", "relationships", "not_null", "rows_follow_rules"} <= used


def test_output_never_shows_a_raw_cpf(broken_build):
    out = broken_build.stdout
    for raw in ("123.456.78X-00", "52998224725", "11122233344"):
        assert raw not in out
