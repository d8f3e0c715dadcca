"""Seeds, prompt hashes and cache keys: the same keys for the bulk replay and the per-job runner.

A row's cache key covers the provider, model, max_tokens and prompt version (a fixed prefix), then
the request's temperature, seed and prompt hash. The seed comes from the row's `seed_key` and the
attempt number, so the same row at the same attempt always sends the same request and finds the
same cache entry, whether a run plans it alone or a replay plans its whole round.

Two ways to the same keys. `plan` builds one row's request in Python, for a call about to be made.
`first_requests` keys a whole round set-wise for the replay: Python renders and hashes one prompt
per distinct context (a first round has one per campaign, first name, segment and offer, not one
per client), and DuckDB hashes every row's seed and key. `_ROUND_KEYS_SQL` spells out `seed` and
`key_for` in SQL: a change to one is a change to the other, and a test holds them equal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

import duckdb
import pyarrow as pa

from python_udfs.generation.prompts import PROMPT_VERSION, render_prompt
from python_udfs.generation.providers.base import CompletionRequest, Prompt
from python_udfs.generation.records import PlannedRequest, RoundRow
from python_udfs.generation.rounds import CONTEXT_COLUMNS, Round
from python_udfs.generation.settings import Settings
from python_udfs.generation.sql import bind

__all__ = ["ROUND_KEYS_TABLE", "RequestKeys", "prompt_hash"]

# A round's keys (position, request_hash, prompt_hash), a temporary table beside its rows.
ROUND_KEYS_TABLE = "generation_round_keys"
_CONTEXT_HASHES_VIEW = "generation_context_hashes_in"
_PROMPT_HASHES_TABLE = "generation_prompt_hashes"

# How many rejected messages a regeneration is shown (the most recent ones).
_AVOID_SHOWN = 2


class RequestKeys:
    """Plans each row's request and cache key, for one provider, model and settings."""

    def __init__(
        self,
        settings: Settings,
        provider_name: str,
        model: str | None,
        style: str,
        prompt_version: str = PROMPT_VERSION,
    ) -> None:
        self.settings = settings
        self.style = style
        self._prefix = json.dumps(
            {
                "provider": provider_name,
                "model": model,
                "max_tokens": settings.max_tokens,
                "prompt_version": prompt_version,
            },
            sort_keys=True,
            ensure_ascii=False,
        )

    def seed(self, seed_key: str, attempt: int) -> int:
        # A seed per row and attempt: same-named clients get different messages, a regeneration
        # gets a new one, and the same row always sends the same request (hence the same cache key).
        digest = hashlib.sha256(f"{self.settings.seed}|{seed_key}|{attempt}".encode()).digest()
        return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF

    def plan(self, row: RoundRow, attempt: int, avoid: Sequence[str] = ()) -> PlannedRequest:
        """The row's request at `attempt`, told not to repeat the last of `avoid`, and its key."""
        prompt, seed = self._prompt(row, attempt, avoid)
        hashed = prompt_hash(prompt)
        request = CompletionRequest(
            prompt=prompt, temperature=row.temperature, max_tokens=self.settings.max_tokens, seed=seed
        )
        return PlannedRequest(request, self.key_for(row.temperature, seed, hashed), hashed)

    def first_requests(self, round_: Round) -> duckdb.DuckDBPyRelation:
        """`position`, `request_hash` and `prompt_hash` of every row of `round_` at its first attempt
        in this run, in position order: the keys `plan` gives, planned set-wise in DuckDB.

        They are kept in the temporary table `ROUND_KEYS_TABLE`, beside the round's rows.
        """
        temperatures = round_.temperatures()
        connection = round_.connection
        self._create_prompt_hashes(round_)
        values = {
            "prefix": self._prefix,
            "seed": self.settings.seed,
            "round": round_.number,
            "campaign_ids": list(temperatures),
            # As `key_for` writes a temperature: Python's repr of the float.
            "temperatures": [repr(float(value)) for value in temperatures.values()],
        }
        connection.execute(
            f"create or replace temp table {ROUND_KEYS_TABLE} as "
            + bind(_ROUND_KEYS_SQL.format(round_table=round_.table_name), values)
        )
        # The keys table holds the prompt hashes now: freed here rather than at the end of the run
        # (150 MB for a million clients' two campaigns).
        connection.execute(f"drop table {_PROMPT_HASHES_TABLE}")
        return connection.sql(f"select * from {ROUND_KEYS_TABLE} order by position")

    def _create_prompt_hashes(self, round_: Round) -> None:
        """`_PROMPT_HASHES_TABLE`: each row's prompt hash (`prompt_hash`) by position, rendered
        in Python once per distinct context and spread back to the rows in DuckDB."""
        connection = round_.connection
        columns = ", ".join(("campaign_id", *CONTEXT_COLUMNS))
        connection.execute(
            f"""
            create or replace temp table generation_contexts as
            select row_number() over () as context_id, *
            from (select {columns}, list(position) as positions from {round_.table_name} group by all)
            """
        )
        contexts = connection.execute(
            f"select context_id, {columns} from generation_contexts"
        ).to_arrow_table()
        hashes = pa.table(
            {
                "context_id": contexts.column("context_id"),
                "prompt_hash": pa.array(
                    [
                        prompt_hash(render_prompt(context, self.style))
                        for context in round_.contexts(contexts)
                    ],
                    pa.string(),
                ),
            }
        )
        connection.register(_CONTEXT_HASHES_VIEW, hashes)
        try:
            connection.execute(
                f"""
                create or replace temp table {_PROMPT_HASHES_TABLE} as
                select unnest(c.positions) as position, h.prompt_hash
                from generation_contexts as c
                inner join {_CONTEXT_HASHES_VIEW} as h using (context_id)
                """
            )
        finally:
            connection.unregister(_CONTEXT_HASHES_VIEW)
        connection.execute("drop table generation_contexts")

    def _prompt(self, row: RoundRow, attempt: int, avoid: Sequence[str] = ()) -> tuple[Prompt, int]:
        context = row.context
        if avoid:
            shown = tuple(avoid[-_AVOID_SHOWN:])
            context = replace(context, ideas_to_avoid=(*context.ideas_to_avoid, *shown))
        seed = self.seed(row.seed_key, attempt)
        return render_prompt(context, self.style), seed

    def key_for(self, temperature: float, seed: int, hashed_prompt: str) -> str:
        return hashlib.sha256(
            f"{self._prefix}|{float(temperature)!r}|{seed}|{hashed_prompt}".encode()
        ).hexdigest()


def prompt_hash(prompt: Prompt) -> str:
    """`prompt.sha256`, without hashing a chat prompt's system message (a campaign's fixed start)
    again for every client: its hash state is kept and continued with the user message."""
    if prompt.completion is not None:
        return hashlib.sha256(prompt.completion.encode("utf-8")).hexdigest()
    hasher = _chat_start(prompt.system).copy()
    hasher.update(prompt.user.encode("utf-8"))
    return hasher.hexdigest()


@lru_cache(maxsize=256)
def _chat_start(system: str):
    return hashlib.sha256(Prompt.chat_text(system, "").encode("utf-8"))


# `seed` and `key_for` for a whole round, from its rows and their prompt hashes (by position).
_ROUND_KEYS_SQL = f"""
with

seeded as (
    select
        round_rows.position,
        prompt_hashes.prompt_hash,
        $temperatures[list_position($campaign_ids, round_rows.campaign_id)] as temperature_text,
        ('0x' || left(sha256(concat_ws(
            '|', $seed, round_rows.client_id, round_rows.campaign_id, $round,
            greatest(coalesce(round_rows.first_attempt, 1), 1)
        )), 8))::bigint & 2147483647 as seed
    from {{round_table}} as round_rows
    inner join {_PROMPT_HASHES_TABLE} as prompt_hashes using (position)
)

select
    position,
    sha256(concat_ws('|', $prefix, temperature_text, seed, prompt_hash)) as request_hash,
    prompt_hash
from seeded
"""
