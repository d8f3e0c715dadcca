"""The dbt-duckdb plugin named in profiles.yml: registers the project's functions on the connection."""

from __future__ import annotations

from pathlib import Path

from dbt.adapters.duckdb.plugins import BasePlugin
from dbt_common.exceptions import DbtRuntimeError

from python_udfs.client_files.text import register_text_functions
from python_udfs.cpf import register_cpf_macros
from python_udfs.database import check_database_free, export_dir, memory_limit
from python_udfs.errors import DatabaseInUse
from python_udfs.generation.udf import register_generate_text


class Plugin(BasePlugin):
    """Registers the project's SQL functions when dbt opens its DuckDB connection.

    dbt-duckdb calls `configure_connection` once each time it opens the database file, under its
    own lock and before attaching `llm_cache`, so the macros land in the main database's `main`
    schema and are stored there (views using them read fine from the DuckDB CLI).
    """

    def update_connection_config(self, creds, config):
        # Called just before dbt opens the file: make the folders it and the exports need, and stop
        # with a clear message (not a driver error mid-log) when another process holds the file.
        paths = [Path(creds.path), *(Path(attachment.path) for attachment in creds.attach or [])]
        for path in [*(path.parent for path in paths), export_dir()]:
            path.mkdir(parents=True, exist_ok=True)
        try:
            for path in paths:
                check_database_free(path)
        except DatabaseInUse as error:
            raise DbtRuntimeError(str(error)) from None  # dbt prints its own errors without a traceback

    def configure_connection(self, conn):
        try:
            limit = memory_limit()
        except ValueError as error:
            raise DbtRuntimeError(str(error)) from None
        if limit:
            conn.execute(f"set memory_limit = '{limit}'")
        register_cpf_macros(conn)
        _keep_file_order(conn)
        register_text_functions(conn)
        register_generate_text(conn)

    def configure_cursor(self, cursor):
        # After the profile's `settings`, which dbt-duckdb applies to each cursor first.
        _keep_file_order(cursor)


def _keep_file_order(connection) -> None:
    """Rows come back in file order: the line numbers of the client files (row_number() over what
    read_csv returns) and their header (the first row) depend on it. DuckDB's guide suggests turning
    insertion order off for big loads; in a profile's settings, it would name the wrong lines."""
    connection.execute("set preserve_insertion_order = true")
