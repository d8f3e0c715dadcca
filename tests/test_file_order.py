"""Rows read back in file order, whatever a profile says: the client files' line numbers and header
depend on it (see `_keep_file_order` in python_udfs/plugin.py).

With `preserve_insertion_order` off, a million-row export read in parallel came back out of order:
the header check read a data line as the header and stopped the build. A profile may well turn it
off (DuckDB's guide suggests it for big loads); the plugin turns it back on after the profile's
settings, as dbt-duckdb opens each cursor.
"""

from __future__ import annotations

import duckdb
from dbt.adapters.duckdb.credentials import DuckDBCredentials
from dbt.adapters.duckdb.environments import Environment

from python_udfs.plugin import Plugin


def _insertion_order(connection) -> bool:
    return connection.execute("select current_setting('preserve_insertion_order')").fetchone()[0]


def test_a_profile_that_turns_insertion_order_off_is_overruled_on_every_cursor():
    credentials = DuckDBCredentials(settings={"preserve_insertion_order": False})
    plugin = Plugin(name="plugin", plugin_config={}, credentials=credentials)
    with duckdb.connect() as connection:
        plugin.configure_connection(connection)
        cursor = Environment.initialize_cursor(credentials, connection.cursor(), {"plugin": plugin})
        assert _insertion_order(cursor) is True
        # What the profile alone does: the plugin is what keeps the order.
        bare = Environment.initialize_cursor(credentials, connection.cursor(), {})
        assert _insertion_order(bare) is False
