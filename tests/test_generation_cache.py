"""The response cache is durable the moment an answer arrives, whatever dbt's transaction does."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime, timezone

import duckdb
import pyarrow as pa
import pytest

from python_udfs.errors import GenerationError
from python_udfs.generation import Completion, ResponseCache
from tests.generation_support import cache_connection


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
    assert _lookup(cache, ["a", "b", "c"])["is_cached"] == [True, True, False]
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


def _lookup(cache: ResponseCache, keys: list[str], checks: str = "v1+duplicates") -> dict[str, list]:
    return cache.lookup_planned(pa.table({"request_hash": pa.array(keys, pa.string())}), checks).to_pydict()


def test_lookup_gives_the_newest_answer_per_key_in_the_planned_order(tmp_path):
    cache = ResponseCache(cache_connection(tmp_path))
    _put(cache, "k", "Ana, primeiro?")
    cache.flush()
    _put(cache, "k", "Ana, segundo?")
    _put(cache, "j", "Rui, terceiro?")
    cache.flush()
    found = _lookup(cache, ["j", "missing", "k"])
    assert found["request_hash"] == ["j", "missing", "k"]
    assert found["text"] == ["Rui, terceiro?", None, "Ana, segundo?"]
    assert found["is_cached"] == [True, False, True]
    assert found["decision_status"] == [None, None, None]
    cache.close()


def test_lookup_reuses_a_decision_only_for_its_answer_and_its_rules(tmp_path):
    cache = ResponseCache(cache_connection(tmp_path))
    _put(cache, "k", "Ana, primeiro?")
    cache.flush()
    first = _lookup(cache, ["k"])["created_at"][0]
    cache.record_decisions(_decision("k", first, "v1+duplicates", "ok", "Ana, primeiro?"))
    decided = _lookup(cache, ["k"])
    # A decided answer's text is not read again: the decision holds the message.
    assert (decided["decision_status"], decided["decision_message"], decided["text"]) == (
        ["ok"],
        ["Ana, primeiro?"],
        [None],
    )
    assert _lookup(cache, ["k"], checks="v2+duplicates")["decision_status"] == [None]
    _put(cache, "k", "Ana, segundo?")  # a newer answer: the old decision is not its decision
    cache.flush()
    assert _lookup(cache, ["k"])["decision_status"] == [None]
    cache.close()


def _decision(key: str, answer_created_at, checks: str, status: str, message: str) -> pa.Table:
    return pa.table(
        {
            "request_hash": [key],
            "answer_created_at": [answer_created_at],
            "checks": [checks],
            "status": [status],
            "reason": pa.nulls(1, pa.string()),
            "message": [message],
            "normalised": [message.lower()],
            "decided_at": [datetime.now(timezone.utc)],
        }
    )


def test_a_connection_without_the_cache_attached_is_a_clear_error():
    with pytest.raises(GenerationError, match="attach"):
        ResponseCache(duckdb.connect())
