"""The response cache: every answer the model gives, durable the moment it arrives.

The cache lives in its own DuckDB file, attached as `llm_cache` to every dbt connection
(profiles.yml). dbt runs a Python model inside a transaction and only creates the model's table
after the function returns, so answers written through dbt's own cursor would be lost by a crash.
`ResponseCache` therefore uses cursors of its own (`connection.cursor()`: a separate connection to
the same database instance, in autocommit): each commit is on disk whatever dbt's transaction does.

Measured here: one autocommitted insert costs about 3.5 ms (the WAL is synced on every commit),
and `executemany` about as much per row. That is more than a request's share of time at the
throughput we aim for (320 answers a second), so a writer thread does the inserts: it commits as
soon as an answer is queued and, when several arrived while it was committing, commits those
together as one arrow table (`insert ... select`: about 0.1 ms a row). Nothing ever waits for
others to arrive, so a crash loses at most the answers in flight or queued for a few milliseconds.

`decisions` records what the runner decided about each answer it validated (ok, or rejected and
why, with the cleaned message): a re-run that finds both the answer and its decision trusts the
decision instead of validating a million answers again. A decision is tied to the answer it judged
(`answer_created_at`) and to the rules that judged it (`checks`: the validation version, and
whether the duplicate check ran), so neither a newer answer nor new rules reuse a stale one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from python_udfs.errors import GenerationError
from python_udfs.generation.providers.base import Completion
from python_udfs.generation.sql import bind, literal

__all__ = ["DECISIONS_SCHEMA", "RESPONSES_SCHEMA", "CachedAnswer", "ResponseCache", "accepted_answers_sql"]

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
    f"""
    create table if not exists {CATALOG}.main.decisions (
        request_hash varchar not null,
        answer_created_at timestamptz not null,
        checks varchar not null,
        status varchar not null,
        reason varchar,
        message varchar,
        normalised varchar,
        decided_at timestamptz not null
    )
    """,
    # Columns added after the first release: a cache file written before them gains them here
    # (existing runs keep null: nothing was counted then).
    f"alter table {CATALOG}.main.generation_log add column if not exists http_retries bigint",
)

RESPONSES_SCHEMA = pa.schema(
    [
        ("request_hash", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("prompt_version", pa.string()),
        ("prompt_hash", pa.string()),
        ("text", pa.string()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("latency_ms", pa.float64()),
        ("created_at", pa.timestamp("us", tz="UTC")),
    ]
)
DECISIONS_SCHEMA = pa.schema(
    [
        ("request_hash", pa.string()),
        ("answer_created_at", pa.timestamp("us", tz="UTC")),
        ("checks", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("message", pa.string()),
        ("normalised", pa.string()),
        ("decided_at", pa.timestamp("us", tz="UTC")),
    ]
)


def _insert_arrow(cursor, table_name: str, rows: pa.Table) -> None:
    """One `insert ... select` from an arrow table: one statement, one commit in autocommit."""
    view = f"_incoming_{threading.get_ident()}"
    cursor.register(view, rows)
    try:
        cursor.execute(f"insert into {CATALOG}.main.{table_name} by name select * from {view}")
    finally:
        cursor.unregister(view)


def _newest(*, text: bool, normalised: bool) -> str:
    """The CTEs both lookups start with: `planned` (the registered `{view}`), `found` (each planned
    key's newest answer) and `decided` (each answer's newest decision under `$checks`), with the
    answer's text and the folded message only when asked.

    Aggregates (`arg_max`), not a window (`qualify row_number() ...`) or a join back on the newest
    timestamp: those took 2 to 4 times as long on two million keys.
    """
    return f"""
    with
    planned as (select * from {{view}}),
    found as (
        select
            r.request_hash,
            {"arg_max(r.text, r.created_at) as text," if text else ""}
            arg_max(r.prompt_tokens, r.created_at) as prompt_tokens,
            arg_max(r.completion_tokens, r.created_at) as completion_tokens,
            arg_max(r.latency_ms, r.created_at) as latency_ms,
            max(r.created_at) as created_at
        from {CATALOG}.main.responses as r
        semi join planned as p on r.request_hash = p.request_hash
        group by r.request_hash
    ),
    decided as (
        select
            d.request_hash,
            d.answer_created_at,
            arg_max(d.status, d.decided_at) as status,
            arg_max(d.reason, d.decided_at) as reason,
            arg_max(d.message, d.decided_at) as message
            {", arg_max(d.normalised, d.decided_at) as normalised" if normalised else ""}
        from {CATALOG}.main.decisions as d
        semi join planned as p on d.request_hash = p.request_hash
        where d.checks = $checks
        group by d.request_hash, d.answer_created_at
    )
    """


_LOOKUP_PLANNED = (
    _newest(text=True, normalised=True)
    + """
    select
        planned.* exclude (_row),
        -- A decided answer's text is not needed again: its decision holds the message.
        case when decided.status is null then found.text end as text,
        found.request_hash is not null as is_cached,
        found.prompt_tokens, found.completion_tokens, found.latency_ms, found.created_at,
        decided.status as decision_status,
        decided.reason as decision_reason,
        decided.message as decision_message,
        decided.normalised as decision_normalised
    from planned
    left join found using (request_hash)
    left join decided
        on decided.request_hash = found.request_hash
        and decided.answer_created_at = found.created_at
    order by planned._row
"""
)

# The replay's lookup: only what settles a row (an answer whose newest decision is ok), without the
# answers' texts, so a million-row round holds no text it will not use.
_ACCEPTED_SELECT = """
    select
        planned._row as position,
        decided.* exclude (request_hash, answer_created_at, status, reason),
        found.prompt_tokens, found.completion_tokens, found.latency_ms, found.created_at
    from planned
    inner join found on planned.request_hash = found.request_hash
    inner join decided
        on decided.request_hash = found.request_hash
        and decided.answer_created_at = found.created_at
    where decided.status = 'ok'
"""


def accepted_answers_sql(planned: str, *, normalised: bool = False) -> str:
    """A query for the rows of `planned` (a table or subquery with `_row` and `request_hash`) whose
    newest answer was decided ok under `$checks`: position (their `_row`), message (and
    `normalised` when asked), prompt_tokens, completion_tokens, latency_ms, created_at.

    Run where `planned` lives, on a connection the cache is attached to: the replay runs it on the
    round's own table, so a million answers never leave DuckDB.
    """
    return (_newest(text=False, normalised=normalised) + _ACCEPTED_SELECT).format(view=planned)


@dataclass(frozen=True)
class CachedAnswer:
    """An answer as the cache holds it (`text` is None once a decision holds the message)."""

    text: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    created_at: datetime


class ResponseCache:
    """Look answers up in bulk, store each new one at once, and keep the run ledger."""

    def __init__(self, connection) -> None:
        self._cursor = connection.cursor()
        attached = self._cursor.execute(
            f"select count(*) from duckdb_databases() where database_name = {literal(CATALOG)}"
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

    def record_decisions(self, rows: pa.Table) -> None:
        """Store decisions (DECISIONS_SCHEMA's columns), committed when this returns."""
        if rows.num_rows:
            _insert_arrow(
                self._cursor, "decisions", rows.select(DECISIONS_SCHEMA.names).cast(DECISIONS_SCHEMA)
            )

    def lookup_planned(self, planned: pa.Table, checks: str) -> pa.Table:
        """`planned` (with a `request_hash` column) with its newest answer and that answer's decision.

        Adds is_cached, text (only for an undecided answer), prompt_tokens, completion_tokens,
        latency_ms, created_at (null: not cached) and decision_status, decision_reason,
        decision_message, decision_normalised (null: undecided under `checks`), in `planned`'s
        row order. One set-based query, however many rows.
        """
        return self._query_planned(_LOOKUP_PLANNED, planned, checks)

    def _query_planned(self, sql: str, planned: pa.Table, checks: str) -> pa.Table:
        view = f"_planned_{threading.get_ident()}"
        self._cursor.register(
            view, planned.append_column("_row", pa.array(range(planned.num_rows), pa.int64()))
        )
        try:
            return self._cursor.execute(bind(sql.format(view=view), {"checks": checks})).to_arrow_table()
        finally:
            self._cursor.unregister(view)

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

    def log_run(self, row: Mapping[str, object]) -> None:
        """Add one run's row to `generation_log` (its columns by name)."""
        columns = ", ".join(row)
        values = ", ".join(literal(value) for value in row.values())
        self._cursor.execute(f"insert into {CATALOG}.main.generation_log ({columns}) values ({values})")

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
        # One arrow table, one `insert ... select`, one commit (autocommit): whatever the batch size.
        columns = list(zip(*batch, strict=True))
        rows = pa.table(
            {
                field.name: pa.array(values, field.type)
                for field, values in zip(RESPONSES_SCHEMA, columns, strict=True)
            },
            schema=RESPONSES_SCHEMA,
        )
        _insert_arrow(self._cursor, "responses", rows)
