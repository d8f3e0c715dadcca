"""A round's cached rows settled in bulk, in DuckDB: the rows whose first request has an answer
decided ok.

Each round starts here. Every row's first request is keyed set-wise (`RequestKeys.first_requests`:
the keys the per-job runner plans one at a time), looked up in the cache and, when its answer was
already decided ok, written to the run's output, all in SQL on the round's connection: a million
replayed rows never become Python objects, and DuckDB's memory limit holds for them. Only the rest
(new rows, rows whose answer was rejected or never decided) go to the `Generator`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from python_udfs.generation.cache import accepted_answers_sql
from python_udfs.generation.judging import decision_checks
from python_udfs.generation.keys import ROUND_KEYS_TABLE, RequestKeys
from python_udfs.generation.planning import OUTPUT_TABLE
from python_udfs.generation.prompts import PROMPT_VERSION
from python_udfs.generation.records import AcceptedMessage
from python_udfs.generation.rounds import Round
from python_udfs.generation.sql import bind

__all__ = ["Replay", "replay_decided"]

# Rows of a round looked up in one query: its hash tables hold a chunk's answers, not the whole
# round's. Each chunk scans the cache once, so chunks stay large. On a round of 2 million cached
# rows, two chunks of a million took the time of one query (2.3 against 2.2 s) and peaked 0.6 GB
# lower (2.5 against 3.1 GB); three chunks saved 0.3 GB more but took 0.2 s longer.
_CHUNK_ROWS = 1_000_000
_ACCEPTED_TABLE = "generation_accepted"


@dataclass
class Replay:
    """What a round's bulk pass settled, and what it left for the Generator."""

    # Rows settled (added to the run's output), and their tokens.
    settled: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Positions (in the round) of the rows left to run.
    rest: list[int] = field(default_factory=list)
    # Per campaign, the settled messages: the duplicate guards check new answers against them.
    accepted: dict[str, list[AcceptedMessage]] = field(default_factory=dict)


def replay_decided(round_: Round, keys: RequestKeys, provider: str, model: str) -> Replay:
    """Settle the round's rows whose first request has a cached answer decided ok.

    `round_.connection` must have the cache attached; the settled rows go to `OUTPUT_TABLE`.
    """
    if not len(round_):
        return Replay()
    connection = round_.connection
    keys.first_requests(round_)
    _find_accepted(round_, normalised=False)
    totals = connection.execute(
        f"select count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0) "
        f"from {_ACCEPTED_TABLE}"
    ).fetchone()
    settled, prompt_tokens, completion_tokens = totals if totals else (0, 0, 0)
    if settled:
        values = {
            "round": round_.number,
            "provider": provider,
            "model": model,
            "prompt_version": PROMPT_VERSION,
        }
        connection.execute(bind(_SETTLE_SQL.format(round_table=round_.table_name), values))
    rest = _column(
        connection,
        f"select position from {round_.table_name} anti join {_ACCEPTED_TABLE} using (position) "
        "order by position",
    )
    # Rows left to judge are checked against the settled messages: their folded forms are needed.
    accepted = _accepted(round_) if rest and settled else {}
    connection.execute(f"drop table {_ACCEPTED_TABLE}")
    return Replay(int(settled), int(prompt_tokens), int(completion_tokens), rest, accepted)


def _find_accepted(round_: Round, *, normalised: bool) -> None:
    """`_ACCEPTED_TABLE`: the round's rows whose first request's answer was decided ok, by position."""
    connection = round_.connection
    checks = {"checks": decision_checks(True)}
    for start in range(0, len(round_), _CHUNK_ROWS):
        planned = (
            f"(select position as _row, request_hash from {ROUND_KEYS_TABLE} "
            f"where position >= {start} and position < {start + _CHUNK_ROWS})"
        )
        query = bind(accepted_answers_sql(planned, normalised=normalised), checks)
        if start == 0:
            connection.execute(f"create or replace temp table {_ACCEPTED_TABLE} as {query}")
        else:
            connection.execute(f"insert into {_ACCEPTED_TABLE} {query}")


def _accepted(round_: Round) -> dict[str, list[AcceptedMessage]]:
    _find_accepted(round_, normalised=True)
    rows = round_.connection.execute(
        f"""
        select a.position, r.campaign_id, a.message, a.normalised, r.first_name
        from {_ACCEPTED_TABLE} as a
        inner join {round_.table_name} as r using (position)
        order by a.position
        """
    ).fetchall()
    by_campaign: dict[str, list[AcceptedMessage]] = {}
    for position, campaign_id, message, normalised, first_name in rows:
        by_campaign.setdefault(campaign_id, []).append(
            AcceptedMessage(position, message, normalised, first_name)
        )
    return by_campaign


def _column(connection: duckdb.DuckDBPyConnection, sql: str) -> list[int]:
    return connection.execute(sql).to_arrow_table().column(0).to_pylist()


# The settled rows as the run's output rows (OUTPUT_SCHEMA), column for column.
_SETTLE_SQL = f"""
insert into {OUTPUT_TABLE} by name
select
    cast(r.client_id as integer) as client_id,
    r.campaign_id,
    cast($round as integer) as round,
    a.message,
    'ok' as status,
    cast(null as varchar) as error_reason,
    $provider as provider,
    $model as model,
    $prompt_version as prompt_version,
    k.prompt_hash,
    cast(greatest(coalesce(r.first_attempt, 1), 1) as integer) as attempts,
    coalesce(a.prompt_tokens, 0) as prompt_tokens,
    coalesce(a.completion_tokens, 0) as completion_tokens,
    round(coalesce(a.latency_ms, 0.0), 1) as latency_ms,
    true as is_cached,
    a.created_at as generated_at
from {_ACCEPTED_TABLE} as a
inner join {{round_table}} as r using (position)
inner join {ROUND_KEYS_TABLE} as k using (position)
"""
