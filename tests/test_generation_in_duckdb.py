"""The generative step as the dbt model runs it: refs read where they are, cached rows settled in
DuckDB, the output handed back as a relation, and nothing left behind on the caller's connection."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from python_udfs.generation import generate_missing, generate_missing_relation
from python_udfs.generation.rounds import Round
from testkit.llm_server import LLMServer
from tests.generation_support import cache_connection, campaigns, demo_clients, fake_server_settings


@pytest.fixture
def server():
    with LLMServer() as running:
        yield running


@pytest.fixture
def connection(tmp_path):
    connection = cache_connection(tmp_path)
    connection.register("clients_in", demo_clients())
    connection.execute("create table clients as select * from clients_in")
    connection.register("campaigns_in", campaigns())
    connection.execute("create table campaigns as select * from campaigns_in")
    return connection


@pytest.fixture
def records_built(monkeypatch) -> list[int]:
    """How many rows each round turned into Python records (the rows that need a model call)."""
    built: list[int] = []
    records = Round._records

    def counting(self, table):
        built.append(table.num_rows)
        return records(self, table)

    monkeypatch.setattr(Round, "_records", counting)
    return built


def _generation_tables(connection: duckdb.DuckDBPyConnection) -> list[str]:
    rows = connection.execute(
        "select table_name from duckdb_tables() where temporary and starts_with(table_name, 'generation_') "
        "union all "
        "select view_name from duckdb_views() where temporary and starts_with(view_name, 'generation_')"
    ).fetchall()
    return sorted(name for (name,) in rows)


def _model_run(server, connection, existing=None) -> int:
    """What marketing_messages.py and dbt-duckdb do: refs in, relation out, written as a table."""
    rows = generate_missing_relation(
        connection.table("clients").project("client_id, first_name, segment"),
        connection.table("campaigns"),
        existing,
        fake_server_settings(server),
        connection=connection,
    )
    connection.register("model_output", rows)
    connection.execute("create or replace table new_rows as select * from model_output")
    connection.unregister("model_output")
    return connection.execute("select count(*) from new_rows").fetchone()[0]


def test_the_model_reads_its_refs_in_place_and_hands_back_a_relation(server, connection):
    assert _model_run(server, connection) == 6
    assert server.requests == 6
    statuses = connection.execute("select distinct status from new_rows").fetchall()
    assert statuses == [("ok",)]
    # Only the output stays, for the relation dbt reads after the model returns.
    assert _generation_tables(connection) == ["generation_output"]
    connection.execute("create table marketing_messages as select * from new_rows")
    existing = connection.sql(
        "select client_id, campaign_id, round, status, message, attempts from marketing_messages"
    )
    assert _model_run(server, connection, existing) == 0
    assert server.requests == 6


def test_a_cached_round_never_enters_python_only_the_rows_to_call_do(server, connection, records_built):
    first = generate_missing(
        demo_clients(), campaigns(), None, fake_server_settings(server), connection=connection
    )
    assert records_built == [6]
    records_built.clear()
    # A full refresh with one client more: five rows replayed in DuckDB, one row built to call.
    clients = pa.concat_tables(
        [
            demo_clients(),
            pa.table(
                {
                    "client_id": pa.array([7], pa.int32()),
                    "first_name": ["Bia"],
                    "full_name": ["Bia Torres"],
                    "cpf": ["00000000000"],
                    "segment": ["basico"],
                }
            ),
        ]
    )
    rebuilt = generate_missing(
        clients, campaigns(), None, fake_server_settings(server), connection=connection
    )
    assert records_built == [1]
    assert server.requests == 7
    assert rebuilt.column("is_cached").to_pylist() == [True] * 6 + [False]
    assert rebuilt.column("message").to_pylist()[:6] == first.column("message").to_pylist()


def test_relations_of_another_connection_are_read_as_arrow(server, connection):
    with duckdb.connect() as other:
        other.register("clients_in", demo_clients())
        rows = generate_missing(
            other.table("clients_in"), campaigns(), None, fake_server_settings(server), connection=connection
        )
    assert rows.num_rows == 6
    assert server.requests == 6


def test_nothing_is_left_on_the_callers_connection(server, connection):
    generate_missing(demo_clients(), campaigns(), None, fake_server_settings(server), connection=connection)
    assert _generation_tables(connection) == []
