"""The response cache is durable the moment an answer arrives, whatever dbt's transaction does."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime, timezone

import duckdb
import pytest
from generation_support import cache_connection

from python_udfs.errors import GenerationError
from python_udfs.generation import Completion, ResponseCache


def _put(cache: ResponseCache, key: str, text: str = "João, que tal um livro?") -> None:
    cache.put(
        key,
        provider="openai",
        model="m",
        prompt_version="v1",
        prompt_hash="h",
        completion=Completion(text, 10, 5, 12.5),
        created_at=datetime.now(timezone.utc),
    )


def test_answers_are_visible_to_a_fresh_connection_while_the_transaction_is_open(tmp_path):
    connection = cache_connection(tmp_path)
    # What dbt does around a Python model: an open transaction on its own cursor.
    connection.execute("begin transaction")
    connection.execute("create table model_output as select 1 as x")
    cache = ResponseCache(connection)
    _put(cache, "a")
    _put(cache, "b")
    cache.flush()
    fresh = connection.cursor()
    assert fresh.execute("select count(*) from llm_cache.main.responses").fetchone()[0] == 2
    connection.execute("rollback")  # dbt's work is lost...
    assert fresh.execute("select count(*) from llm_cache.main.responses").fetchone()[0] == 2  # ...answers not
    assert set(cache.lookup(["a", "b", "c"])) == {"a", "b"}
    cache.close()


def test_answers_survive_the_process_being_killed(tmp_path):
    child = textwrap.dedent(
        f"""
        import os, signal, sys
        from datetime import datetime, timezone
        sys.path.insert(0, {str(tmp_path.parent)!r})
        import duckdb
        from python_udfs.generation import Completion, ResponseCache
        connection = duckdb.connect({str(tmp_path / "marketing.duckdb")!r})
        connection.execute("attach '{tmp_path / "llm_cache.duckdb"}' as llm_cache")
        connection.execute("begin transaction")
        connection.execute("create table never_committed as select 1 as x")
        cache = ResponseCache(connection)
        for key in ("k1", "k2", "k3"):
            answer = Completion("Ana, um livro?", 1, 1, 1.0)
            cache.put(key, provider="p", model="m", prompt_version="v1", prompt_hash="h",
                      completion=answer, created_at=datetime.now(timezone.utc))
        cache.flush()
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert result.returncode == -9, result.stderr
    with duckdb.connect(str(tmp_path / "llm_cache.duckdb"), read_only=True) as cache_file:
        assert cache_file.execute("select count(*) from responses").fetchone()[0] == 3
    with duckdb.connect(str(tmp_path / "marketing.duckdb"), read_only=True) as main_file:
        assert (
            main_file.execute(
                "select count(*) from duckdb_tables() where table_name = 'never_committed'"
            ).fetchone()[0]
            == 0
        )


def test_lookup_returns_the_newest_answer_per_key(tmp_path):
    cache = ResponseCache(cache_connection(tmp_path))
    _put(cache, "k", "Ana, primeiro?")
    cache.flush()
    _put(cache, "k", "Ana, segundo?")
    cache.flush()
    assert cache.lookup(["k"])["k"].text == "Ana, segundo?"
    assert cache.lookup([]) == {}
    cache.close()


def test_a_connection_without_the_cache_attached_is_a_clear_error():
    with pytest.raises(GenerationError, match="attach"):
        ResponseCache(duckdb.connect())
