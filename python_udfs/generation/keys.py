"""Seeds, prompt hashes and cache keys: one path for the bulk replay and the per-job runner alike.

A row's cache key covers the provider, model, max_tokens and prompt version (a fixed prefix), then
the request's temperature, seed and prompt hash. The seed comes from the row's `seed_key` and the
attempt number, so the same row at the same attempt always sends the same request and finds the
same cache entry, whether a run plans it alone or a replay plans its whole round.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

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

    def plan_first(self, rows: Sequence[RoundRow]) -> tuple[list[str], list[str]]:
        """Cache keys and prompt hashes of `rows` at their first attempt in this run: what `plan`
        gives, without the request objects a lookup of millions of rows does not need."""
        keys, hashes = [], []
        for row in rows:
            prompt, seed = self._prompt(row, row.first_attempt)
            hashed = prompt_hash(prompt)
            keys.append(self.key_for(row.temperature, seed, hashed))
            hashes.append(hashed)
        return keys, hashes

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
