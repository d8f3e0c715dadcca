"""MARKETING_DUCKDB_MEMORY_LIMIT: DuckDB's memory limit on dbt's connection, or a clear error."""

from __future__ import annotations

import duckdb
import pytest
from dbt_common.exceptions import DbtRuntimeError

from python_udfs.plugin import Plugin


def _configured_limit() -> str:
    plugin = Plugin(name="plugin", plugin_config={}, credentials=None)  # as dbt-duckdb's create() does
    with duckdb.connect() as connection:
        plugin.configure_connection(connection)
        return connection.execute("select current_setting('memory_limit')").fetchone()[0]


def test_the_plugin_sets_the_limit_the_environment_names(monkeypatch):
    monkeypatch.setenv("MARKETING_DUCKDB_MEMORY_LIMIT", "1500MB")
    assert _configured_limit() == "1.3 GiB"  # DuckDB shows 1,500,000,000 bytes in GiB
    monkeypatch.setenv("MARKETING_DUCKDB_MEMORY_LIMIT", "2GiB")
    assert _configured_limit() == "2.0 GiB"


def test_without_the_setting_duckdb_keeps_its_own_default(monkeypatch):
    monkeypatch.delenv("MARKETING_DUCKDB_MEMORY_LIMIT", raising=False)
    with duckdb.connect() as connection:
        default = connection.execute("select current_setting('memory_limit')").fetchone()[0]
    assert _configured_limit() == default


@pytest.mark.parametrize("value", ["lots", "2", "80%", "2GB'; drop table clients; --"])
def test_a_value_that_is_not_a_size_stops_dbt_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("MARKETING_DUCKDB_MEMORY_LIMIT", value)
    with pytest.raises(
        DbtRuntimeError, match=r"MARKETING_DUCKDB_MEMORY_LIMIT=.* is not a size: write a number"
    ):
        _configured_limit()
