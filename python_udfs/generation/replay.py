"""A round's cached rows settled in bulk: the rows whose first request has an answer decided ok.

Each round starts here. Every row's first request is keyed set-wise (`RequestKeys.first_requests`:
the keys the per-job runner plans one at a time) and looked up in bulk; rows whose cached
answer was already decided ok are settled column-wise in arrow, without validating them again.
Only the rest (new rows, rows whose answer was rejected or never decided) go to the `Generator`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from python_udfs.generation.cache import ResponseCache
from python_udfs.generation.judging import decision_checks
from python_udfs.generation.keys import RequestKeys
from python_udfs.generation.output import OUTPUT_SCHEMA
from python_udfs.generation.planning import Round
from python_udfs.generation.prompts import PROMPT_VERSION
from python_udfs.generation.records import AcceptedMessage

__all__ = ["Replay", "replay_decided"]


@dataclass
class Replay:
    """What a round's bulk pass settled, and what it left for the Generator."""

    # The settled rows, as OUTPUT_SCHEMA.
    settled: pa.Table
    # Positions (in the round) of the rows left to run.
    rest: list[int]
    # Per campaign, the settled messages: the duplicate guards check new answers against them.
    accepted: dict[str, list[AcceptedMessage]] = field(default_factory=dict)


def replay_decided(
    round_: Round, keys: RequestKeys, cache: ResponseCache, provider: str, model: str
) -> Replay:
    """Settle the round's rows whose first request has a cached answer decided ok."""
    if not len(round_):
        return Replay(OUTPUT_SCHEMA.empty_table(), [])
    planned = keys.first_requests(round_)
    checks = decision_checks(True)
    accepted = cache.accepted_answers(planned.select(["request_hash"]), checks)
    if not accepted.num_rows:
        return Replay(OUTPUT_SCHEMA.empty_table(), list(range(len(round_))))
    positions = accepted.column("position")
    ok = pc.is_in(pa.array(range(len(round_)), pa.int64()), value_set=positions.combine_chunks())
    rest = pc.indices_nonzero(pc.invert(ok)).to_pylist()
    # Every row settled (an unchanged full refresh): the round's own columns, without copying them.
    rows, prompt_hashes = (
        (round_.table, planned.column("prompt_hash"))
        if not rest
        else (round_.table.take(positions), planned.column("prompt_hash").take(positions))
    )
    settled = _settled(round_.number, rows, accepted, prompt_hashes, (provider, model))
    if not rest:
        return Replay(settled, rest)
    # Rows left to judge are checked against the settled messages: their folded forms are needed.
    folded = cache.accepted_answers(planned.select(["request_hash"]), checks, normalised=True)
    return Replay(settled, rest, _accepted(settled, folded, positions, round_))


def _settled(
    number: int, rows: pa.Table, accepted: pa.Table, prompt_hashes, source: tuple[str, str]
) -> pa.Table:
    """OUTPUT_SCHEMA rows for round `number`'s `rows` with their accepted answers, column-wise;
    `source` is (provider, model)."""
    count = rows.num_rows
    provider, model = source
    return pa.table(
        {
            "client_id": rows.column("client_id").cast(pa.int32()),
            "campaign_id": rows.column("campaign_id").cast(pa.string()),
            "round": pa.repeat(pa.scalar(number, pa.int32()), count),
            "message": accepted.column("message"),
            "status": pa.repeat(pa.scalar("ok"), count),
            "error_reason": pa.nulls(count, pa.string()),
            "provider": pa.repeat(pa.scalar(provider, pa.string()), count),
            "model": pa.repeat(pa.scalar(model, pa.string()), count),
            "prompt_version": pa.repeat(pa.scalar(PROMPT_VERSION), count),
            "prompt_hash": prompt_hashes,
            "attempts": pc.max_element_wise(rows.column("first_attempt").cast(pa.int32()), 1),
            "prompt_tokens": pc.fill_null(accepted.column("prompt_tokens"), 0),
            "completion_tokens": pc.fill_null(accepted.column("completion_tokens"), 0),
            "latency_ms": pc.round(pc.fill_null(accepted.column("latency_ms"), 0.0), 1),
            "is_cached": pa.repeat(pa.scalar(True), count),
            "generated_at": accepted.column("created_at"),
        }
    ).cast(OUTPUT_SCHEMA)


def _accepted(
    settled: pa.Table, answers: pa.Table, positions, round_: Round
) -> dict[str, list[AcceptedMessage]]:
    by_campaign: dict[str, list[AcceptedMessage]] = {}
    for position, campaign_id, message, normalised, first_name in zip(
        positions.to_pylist(),
        settled.column("campaign_id").to_pylist(),
        settled.column("message").to_pylist(),
        answers.column("normalised").to_pylist(),
        round_.table.column("first_name").take(positions).to_pylist(),
        strict=True,
    ):
        by_campaign.setdefault(campaign_id, []).append(
            AcceptedMessage(position, message, normalised, first_name)
        )
    return by_campaign
