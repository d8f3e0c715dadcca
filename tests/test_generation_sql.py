"""Values written into the generation's SQL as literals read back in DuckDB as the values themselves,
and a run that asks the model for nothing never imports pandas (what the literals are for)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import duckdb
import pytest

from python_udfs.generation.sql import bind, literal

VALUES = [
    None,
    True,
    False,
    0,
    -7,
    2_147_483_648,
    0.7,
    1e-9,
    "",
    "it's",
    "a'); drop table clients; --",
    "$round \\n é",
    ["christmas_gifts", "investment_tips"],
    [1, 2, 3],
    datetime(2026, 12, 4, 17, 30, 5, 123456, tzinfo=timezone.utc),
    datetime(2026, 12, 4, 17, 30, 5),
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_literal_reads_back_as_its_value(value):
    with duckdb.connect() as connection:
        (read,) = connection.execute(f"select {literal(value)}").fetchone()
    assert read == value


def test_bind_writes_only_the_named_values():
    sql = "select $round as round, regexp_matches(x, 'a$') as ends, $rounds, $missing"
    assert bind(sql, {"round": 2, "rounds": [1, 2]}) == (
        "select 2 as round, regexp_matches(x, 'a$') as ends, [1, 2], $missing"
    )


def test_an_unknown_type_is_refused():
    with pytest.raises(TypeError, match="no SQL literal for dict"):
        literal({"a": 1})


def test_a_run_with_nothing_to_ask_never_imports_pandas():
    script = """
import sys
import duckdb
from python_udfs.generation import generate_missing_relation
connection = duckdb.connect()
connection.execute("attach ':memory:' as llm_cache")
connection.execute("create table clients as select 1 as client_id, 'Ana' as first_name, 'basico' as segment")
connection.execute(
    "create table campaigns as select 'gifts' as campaign_id, 'generated' as kind, true as is_active, "
    "'' as instructions, 160 as max_characters, 0.7 as temperature"
)
connection.execute(
    "create table existing as select 1 as client_id, 'gifts' as campaign_id, 1 as round, "
    "'ok' as status, 'Ana, que tal' as message, 1 as attempts"
)
connection.execute(
    "create table offers as select 1 as client_id, 'gifts' as campaign_id, 1 as round, 'uma caneca' as offer"
)
# As the dbt model calls it: every input a relation of the connection.
relation = generate_missing_relation(
    clients=connection.table("clients"),
    campaigns=connection.table("campaigns"),
    existing=connection.table("existing"),
    offers=connection.table("offers"),
    settings={"provider": "openai", "base_url": "http://127.0.0.1:9/v1"},
    connection=connection,
)
assert relation.fetchall() == []
print("pandas" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"
