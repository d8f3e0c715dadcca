"""`generate_text` in SQL: the configured provider, the same cache, NULL when nothing valid came back."""

from __future__ import annotations

import pytest

from python_udfs.generation import register_generate_text
from testkit.llm_server import LLMServer
from tests.generation_support import cache_connection, campaigns


@pytest.fixture
def sql(tmp_path, monkeypatch):
    with LLMServer() as server:
        monkeypatch.setenv("MARKETING_PROVIDER", "openai")
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_url)
        monkeypatch.setenv("MARKETING_MAX_RETRIES", "0")
        connection = cache_connection(tmp_path)
        register_generate_text(connection)
        connection.register("campaigns_seed", campaigns())
        connection.execute("create table campaigns as select * from campaigns_seed")
        yield connection, server


QUERY = """
    select name, generate_text('christmas_gifts', name, null) as message
    from (values ('Ana'), ('João'), (null)) as t (name)
    order by name
"""


def test_generate_text_calls_once_per_row_and_then_reads_the_cache(sql):
    connection, server = sql
    rows = connection.execute(QUERY).fetchall()
    assert [name for name, _ in rows] == ["Ana", "João", None]
    assert rows[0][1].startswith("Ana, ") and rows[1][1].startswith("João, ")
    assert rows[2][1] is None
    assert server.requests == 2
    assert connection.execute(QUERY).fetchall() == rows
    assert server.requests == 2


def test_generate_text_returns_null_when_every_attempt_is_rejected(sql):
    connection, server = sql
    server.set_faults(1.0, ("english",))
    assert connection.execute("select generate_text('christmas_gifts', 'Ana', null)").fetchone() == (None,)
    assert server.requests == 3  # one answer and two regenerations, all rejected
