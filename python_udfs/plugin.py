"""The dbt-duckdb plugin named in profiles.yml: registers the project's functions on the connection."""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin

from python_udfs.cpf import register_cpf_macros
from python_udfs.generation.udf import register_generate_text


class Plugin(BasePlugin):
    """Registers the project's SQL functions when dbt opens its DuckDB connection.

    dbt-duckdb calls `configure_connection` once each time it opens the database file, under its
    own lock and before attaching `llm_cache`, so the macros land in the main database's `main`
    schema and are stored there (views using them read fine from the DuckDB CLI).
    """

    def configure_connection(self, conn):
        register_cpf_macros(conn)
        register_generate_text(conn)
