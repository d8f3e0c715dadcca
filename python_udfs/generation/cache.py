"""The response cache: every answer the model gives, durable the moment it arrives.

The cache lives in its own DuckDB file, attached as `llm_cache` to every dbt connection
(profiles.yml). dbt runs a Python model inside a transaction and only creates the model's table
after the function returns, so answers written through dbt's own cursor would be lost by a crash.
`ResponseCache` therefore uses cursors of its own (`connection.cursor()`: a separate connection to
the same database instance, in autocommit): each commit is on disk whatever dbt's transaction does.

Measured here: one autocommitted insert costs about 3.5 ms (the WAL is synced on every commit).
That is more than a request's share of time at the throughput we aim for (320 answers a second),
so a writer thread does the inserts: it commits as soon as an answer is queued and, when several
arrived while it was committing, commits those together. Nothing ever waits for others to arrive,
so a crash loses at most the answers in flight or queued for a few milliseconds.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from python_udfs.errors import GenerationError
from python_udfs.generation.providers.base import Completion

__all__ = ["CachedAnswer", "ResponseCache"]

CATALOG = "llm_cache"

_DDL = (
    f"""
    create table if not exists {CATALOG}.main.responses (
        request_hash varchar not null,
        provider varchar not null,
        model varchar not null,
        prompt_version varchar not null,
        prompt_hash varchar not null,
        text varchar not null,
        prompt_tokens bigint,
        completion_tokens bigint,
        latency_ms double,
        created_at timestamptz not null
    )
    """,
    f"""
    create table if not exists {CATALOG}.main.generation_log (
        run_id varchar not null,
        started_at timestamptz not null,
        finished_at timestamptz not null,
        status varchar not null,
        rows_requested bigint,
        served_from_cache bigint,
        model_calls bigint,
        http_retries bigint,
        ok bigint,
        rejected bigint,
        error bigint,
        prompt_tokens bigint,
        completion_tokens bigint,
        seconds double,
        provider varchar,
        model varchar
    )
    """,
    # Columns added after the first release: a cache file written before them gains them here
    # (existing runs keep null: nothing was counted then).
    f"alter table {CATALOG}.main.generation_log add column if not exists http_retries bigint",
)

_INSERT = f"""
    insert into {CATALOG}.main.responses
    (request_hash, provider, model, prompt_version, prompt_hash, text,
     prompt_tokens, completion_tokens, latency_ms, created_at)
    values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


@dataclass(frozen=True)
class CachedAnswer:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    created_at: datetime


class ResponseCache:
    """Look answers up in bulk, store each new one at once, and keep the run ledger."""

    def __init__(self, connection) -> None:
        self._cursor = connection.cursor()
        attached = self._cursor.execute(
            "select count(*) from duckdb_databases() where database_name = ?", [CATALOG]
        ).fetchone()[0]
        if not attached:
            raise GenerationError(
                f"no database attached as {CATALOG}: attach the cache file first "
                f"(profiles.yml does it for dbt; elsewhere `attach 'data/llm_cache.duckdb' as {CATALOG}`)",
                reason="no_cache",
            )
        for ddl in _DDL:
            self._cursor.execute(ddl)
        self._writer = _Writer(connection.cursor())

    def lookup(self, keys: list[str]) -> dict[str, CachedAnswer]:
        """The newest answer for each key that has one: one join, however many keys."""
        if not keys:
            return {}
        self._cursor.register("_requested_keys", pa.table({"request_hash": pa.array(keys, pa.string())}))
        try:
            found = self._cursor.execute(
                f"""
                select
                    r.request_hash, r.text, r.prompt_tokens, r.completion_tokens, r.latency_ms, r.created_at
                from {CATALOG}.main.responses as r
                semi join _requested_keys as k on r.request_hash = k.request_hash
                qualify row_number() over (partition by r.request_hash order by r.created_at desc) = 1
                """
            ).to_arrow_table()
        finally:
            self._cursor.unregister("_requested_keys")
        columns = found.to_pydict()
        return {
            key: CachedAnswer(*values)
            for key, *values in zip(
                columns["request_hash"],
                columns["text"],
                columns["prompt_tokens"],
                columns["completion_tokens"],
                columns["latency_ms"],
                columns["created_at"],
                strict=True,
            )
        }

    def put(
        self,
        key: str,
        *,
        provider: str,
        model: str,
        prompt_version: str,
        prompt_hash: str,
        completion: Completion,
        created_at: datetime,
    ) -> None:
        """Queue one answer for its own commit; returns at once (thread-safe)."""
        self._writer.put(
            (
                key,
                provider,
                model,
                prompt_version,
                prompt_hash,
                completion.text,
                completion.prompt_tokens,
                completion.completion_tokens,
                completion.latency_ms,
                created_at,
            )
        )

    def flush(self) -> None:
        """Wait until every queued answer is committed."""
        self._writer.flush()

    def log_run(self, row: dict) -> None:
        columns = ", ".join(row)
        placeholders = ", ".join("?" for _ in row)
        self._cursor.execute(
            f"insert into {CATALOG}.main.generation_log ({columns}) values ({placeholders})",
            list(row.values()),
        )

    def close(self) -> None:
        self._writer.close()
        self._cursor.close()


class _Writer:
    """One thread, one cursor: commits each queued answer as soon as it can."""

    def __init__(self, cursor) -> None:
        self._cursor = cursor
        self._queue: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        # A daemon: a crash or Ctrl-C never waits on it; what is committed is already on disk.
        self._thread = threading.Thread(target=self._run, name="llm-cache-writer", daemon=True)
        self._thread.start()

    def put(self, row: tuple) -> None:
        if self._error is not None:
            raise GenerationError(f"cannot write the response cache: {self._error}", reason="cache")
        self._queue.put(row)

    def flush(self) -> None:
        self._queue.join()
        if self._error is not None:
            raise GenerationError(f"cannot write the response cache: {self._error}", reason="cache")

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._cursor.close()

    def _run(self) -> None:
        stop = False
        while not stop:
            rows = [self._queue.get()]
            # Answers that arrived during the last commit go into this one; none is held back.
            while True:
                try:
                    rows.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = rows[-1] is None
            batch = [row for row in rows if row is not None]
            try:
                if batch and self._error is None:
                    self._write(batch)
            except Exception as error:  # reported to the caller by put() / flush()
                self._error = error
            finally:
                for _ in rows:
                    self._queue.task_done()

    def _write(self, batch: list[tuple]) -> None:
        if len(batch) == 1:
            self._cursor.execute(_INSERT, list(batch[0]))
            return
        self._cursor.execute("begin transaction")
        try:
            self._cursor.executemany(_INSERT, [list(row) for row in batch])
            self._cursor.execute("commit")
        except Exception:
            self._cursor.execute("rollback")
            raise
