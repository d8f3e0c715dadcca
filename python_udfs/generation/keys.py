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
import pyarrow.compute as pc

from python_udfs.generation.planning import CONTEXT_COLUMNS, Round
from python_udfs.generation.prompts import PROMPT_VERSION, render_prompt
from python_udfs.generation.providers.base import CompletionRequest, Prompt
from python_udfs.generation.records import PlannedRequest, RoundRow
from python_udfs.generation.settings import Settings

__all__ = ["RequestKeys", "prompt_hash"]

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

    def first_requests(self, round_: Round) -> pa.Table:
        """`request_hash` and `prompt_hash` of every row of `round_` at its first attempt in this
        run, in round order: the keys `plan` gives, planned set-wise."""
        temperatures = round_.temperatures()
        with duckdb.connect() as work:
            work.register("round_rows", round_.table)
            work.register("prompt_hashes", self._prompt_hashes(round_, work))
            return work.execute(
                _ROUND_KEYS_SQL,
                {
                    "prefix": self._prefix,
                    "seed": self.settings.seed,
                    "round": round_.number,
                    "campaign_ids": list(temperatures),
                    # As `key_for` writes a temperature: Python's repr of the float.
                    "temperatures": [repr(float(value)) for value in temperatures.values()],
                },
            ).to_arrow_table()

    def _prompt_hashes(self, round_: Round, work: duckdb.DuckDBPyConnection) -> pa.Table:
        """Each row's prompt hash (`prompt_hash`, in round order), rendered once per distinct context."""
        columns = ", ".join(("campaign_id", *CONTEXT_COLUMNS))
        work.register(
            "numbered_rows",
            round_.table.select(["campaign_id", *CONTEXT_COLUMNS]).append_column(
                "position", pa.array(range(len(round_)), pa.int64())
            ),
        )
        contexts = work.execute(
            f"select {columns}, list(position) as positions from numbered_rows group by all"
        ).to_arrow_table()
        hashes = pa.array(
            [prompt_hash(render_prompt(context, self.style)) for context in round_.contexts(contexts)],
            pa.string(),
        )
        positions = contexts.column("positions").combine_chunks()
        per_row = hashes.take(pc.list_parent_indices(positions))
        # `positions` flattened is a permutation of the rows: sorting by it puts the hashes in row order.
        return pa.table({"prompt_hash": per_row.take(pc.sort_indices(pc.list_flatten(positions)))})

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


# `seed` and `key_for` for a whole round. `round_rows` and `prompt_hashes` are both in round order:
# a positional join pairs them, and the result keeps that order.
_ROUND_KEYS_SQL = """
with

seeded as (
    select
        prompt_hashes.prompt_hash,
        $temperatures[list_position($campaign_ids, round_rows.campaign_id)] as temperature_text,
        ('0x' || left(sha256(concat_ws(
            '|', $seed, round_rows.client_id, round_rows.campaign_id, $round,
            greatest(coalesce(round_rows.first_attempt, 1), 1)
        )), 8))::bigint & 2147483647 as seed
    from round_rows
    positional join prompt_hashes
)

select
    sha256(concat_ws('|', $prefix, temperature_text, seed, prompt_hash)) as request_hash,
    prompt_hash
from seeded
"""
