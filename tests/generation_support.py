"""Helpers shared by the `test_generation_*` files: demo inputs, a cache connection, settings."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from python_udfs.generation import Settings

PROJECT = Path(__file__).resolve().parents[1]

# The six clients of the first original, with surnames and CPFs the pipeline must never send.
DEMO = (
    (1, "João", "João Zubrowska", "12345678910", "basico"),
    (2, "Maria", "Maria Quixabeira", "98765432100", "intermediario"),
    (3, "Pedro", "Pedro Kalinowsky", "11122233344", "basico"),
    (4, "Lucia", "Lucia Wanderleyx", "44455566677", "alta_renda"),
    (5, "Ana", "Ana Vasconcellosz", "77788899990", "intermediario"),
    (6, "Carlos", "Carlos Zubrowska", "22233344455", "sem_saldo"),
)


def demo_clients(count: int | None = None) -> pa.Table:
    """The `clients` mart's shape (more columns than the generator may read, on purpose)."""
    rows = DEMO[:count] if count else DEMO
    return pa.table(
        {
            "client_id": pa.array([r[0] for r in rows], pa.int32()),
            "first_name": [r[1] for r in rows],
            "full_name": [r[2] for r in rows],
            "cpf": [r[3] for r in rows],
            "segment": [r[4] for r in rows],
        }
    )


def campaigns() -> pa.Table:
    with duckdb.connect() as connection:
        return connection.execute(
            "select * from read_csv(?, header = true, "
            "types = {'max_characters': 'INTEGER', 'temperature': 'DOUBLE', 'is_active': 'BOOLEAN'})",
            [str(PROJECT / "seeds" / "campaigns.csv")],
        ).to_arrow_table()


def cache_connection(tmp: Path) -> duckdb.DuckDBPyConnection:
    """A main database with the cache file attached as `llm_cache`, as profiles.yml does."""
    connection = duckdb.connect(str(tmp / "marketing.duckdb"))
    connection.execute(f"attach '{tmp / 'llm_cache.duckdb'}' as llm_cache")
    return connection


def fake_server_settings(server, **overrides) -> Settings:
    """The openai provider against a testkit server: short timeouts, one campaign."""
    values = {
        "provider": "openai",
        "base_url": server.openai_url,
        "timeout_seconds": 2.0,
        "max_retries": 0,
        "max_concurrency": 4,
        "campaigns": ("christmas_gifts",),
    }
    values.update(overrides)
    return Settings(**values)
