"""A round's cached rows settled in bulk: the rows whose first request has an answer decided ok.

Each round starts here. Every row's first request is keyed set-wise (`RequestKeys.first_requests`:
the keys the per-job runner plans one at a time) and looked up in one query; rows whose cached
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
    found, prompt_hashes = _lookup(round_, keys, cache)
    ok = pc.fill_null(pc.equal(found.column("decision_status"), "ok"), False)
    if not pc.any(ok).as_py():
        return Replay(OUTPUT_SCHEMA.empty_table(), list(range(len(round_))))
    rest = pc.indices_nonzero(pc.invert(ok)).to_pylist()
    settled = _settled(round_, ok, found.filter(ok), prompt_hashes.filter(ok), (provider, model))
    # Only a round with rows left to judge needs the settled messages (for the duplicate check).
    accepted = _accepted(settled, found.filter(ok), pc.indices_nonzero(ok), round_) if rest else {}
    return Replay(settled, rest, accepted)


def _lookup(round_: Round, keys: RequestKeys, cache: ResponseCache) -> tuple[pa.Table, pa.ChunkedArray]:
    """Every row's cached answer and decision, and its prompt hash."""
    planned = keys.first_requests(round_)
    found = cache.lookup_planned(planned.select(["request_hash"]), decision_checks(True))
    return found, planned.column("prompt_hash")


def _settled(round_: Round, ok, found: pa.Table, prompt_hashes, source: tuple[str, str]) -> pa.Table:
    """OUTPUT_SCHEMA rows for the round's rows where `ok`, column-wise; `source` is (provider, model)."""
    rows = round_.table.filter(ok)
    count = rows.num_rows
    provider, model = source
    return pa.table(
        {
            "client_id": rows.column("client_id").cast(pa.int32()),
            "campaign_id": rows.column("campaign_id").cast(pa.string()),
            "round": pa.repeat(pa.scalar(round_.number, pa.int32()), count),
            "message": found.column("decision_message"),
            "status": pa.repeat(pa.scalar("ok"), count),
            "error_reason": pa.nulls(count, pa.string()),
            "provider": pa.repeat(pa.scalar(provider, pa.string()), count),
            "model": pa.repeat(pa.scalar(model, pa.string()), count),
            "prompt_version": pa.repeat(pa.scalar(PROMPT_VERSION), count),
            "prompt_hash": prompt_hashes,
            "attempts": pc.max_element_wise(rows.column("first_attempt").cast(pa.int32()), 1),
            "prompt_tokens": pc.fill_null(found.column("prompt_tokens"), 0),
            "completion_tokens": pc.fill_null(found.column("completion_tokens"), 0),
            "latency_ms": pc.round(pc.fill_null(found.column("latency_ms"), 0.0), 1),
            "is_cached": pa.repeat(pa.scalar(True), count),
            "generated_at": found.column("created_at"),
        }
    ).cast(OUTPUT_SCHEMA)


def _accepted(
    settled: pa.Table, found: pa.Table, positions, round_: Round
) -> dict[str, list[AcceptedMessage]]:
    accepted: dict[str, list[AcceptedMessage]] = {}
    for position, campaign_id, message, normalised, first_name in zip(
        positions.to_pylist(),
        settled.column("campaign_id").to_pylist(),
        settled.column("message").to_pylist(),
        found.column("decision_normalised").to_pylist(),
        round_.table.column("first_name").take(positions).to_pylist(),
        strict=True,
    ):
        accepted.setdefault(campaign_id, []).append(
            AcceptedMessage(position, message, normalised, first_name)
        )
    return accepted
