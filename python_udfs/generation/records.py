"""The typed records the generation modules hand each other: campaigns, rows, jobs, calls, decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from python_udfs.errors import GenerationError
from python_udfs.generation.cache import CachedAnswer
from python_udfs.generation.prompts import MessageContext
from python_udfs.generation.providers.base import Completion, CompletionRequest

__all__ = [
    "DEFAULT_TEMPERATURE",
    "AcceptedMessage",
    "Call",
    "CallResult",
    "Campaign",
    "Decision",
    "Job",
    "PlannedRequest",
    "Received",
    "RoundRow",
]

# A campaign with no temperature of its own, and no `temperature` setting, samples at this.
DEFAULT_TEMPERATURE = 0.8


@dataclass(frozen=True, slots=True)
class Campaign:
    """A generated campaign, as its prompts and cache keys need it."""

    campaign_id: str
    instructions: str
    max_characters: int
    # The campaign's own temperature (the seed's column); None: DEFAULT_TEMPERATURE.
    temperature: float | None = None

    def sampling_temperature(self, override: float | None) -> float:
        """The temperature its requests use: the `temperature` setting if set, else its own."""
        if override is not None:
            return float(override)
        return DEFAULT_TEMPERATURE if self.temperature is None else float(self.temperature)


# Per-row records are plain (not frozen) slotted dataclasses: a round builds millions of them, and a
# frozen dataclass takes three times as long to build. Nothing changes a RoundRow once built.


@dataclass(slots=True)
class RoundRow:
    """One message to write: everything its prompt may read, and where it sits in its round.

    `context` is the whole of what the prompt renderer receives: a new input for the prompt (an
    offer, say) is a new `MessageContext` field filled by the planning SQL, not a new argument.
    """

    context: MessageContext
    # What makes the row's seed (with the attempt number): same row, same request, same cache key.
    seed_key: str
    temperature: float
    client_id: int | None = None
    round: int = 0
    # The attempt this run starts from: 1, or the continuation of an earlier run's attempts.
    first_attempt: int = 1
    # The row's place in its round's (campaign, client) order: what the duplicate window follows.
    position: int | None = None


@dataclass(slots=True)
class Job:
    """A row on its way through cache, model and judging, and what happened to it."""

    row: RoundRow
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    is_cached: bool = True
    # Rejected messages the next attempt is asked not to repeat.
    avoid: list[str] = field(default_factory=list)
    message: str | None = None
    status: str | None = None
    error_reason: str | None = None
    prompt_hash: str | None = None
    generated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """A row's request at one attempt, with its cache key and the hash of its prompt."""

    request: CompletionRequest
    key: str
    prompt_hash: str


@dataclass(frozen=True, slots=True)
class Call:
    """One model call for an engine to make. `tag` is the caller's: engines hand it back untouched."""

    tag: int
    request: CompletionRequest
    key: str
    prompt_hash: str


@dataclass(frozen=True, slots=True)
class CallResult:
    """What one call gave: the answer or the error, and how many HTTP requests it took."""

    call: Call
    answer: Completion | GenerationError
    # Requests sent, retries included; 1 for a provider that does not count (an in-process model).
    http_requests: int = 1
    # When the answer was written to the cache (None: an error, nothing cached).
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What judging decided about one answer: `ok`, or `rejected` with the reason."""

    status: str
    reason: str | None
    # The cleaned message (for a rejected answer too: the next attempt is told not to repeat it).
    message: str | None
    # The message folded for the duplicate check; only for ok answers.
    normalised: str | None = None


@dataclass(frozen=True, slots=True)
class Received:
    """An answer for one job in one wave: from the cache or the model, or the call's error."""

    answer: CachedAnswer | Completion | GenerationError
    # When the answer was cached: what a stored decision is tied to (None for an error).
    created_at: datetime | None
    from_cache: bool
    # The decision stored with a cached answer under the same rules; None: not judged yet.
    decision: Decision | None = None


@dataclass(slots=True)
class AcceptedMessage:
    """A message accepted in the round before judging starts (a replayed decision)."""

    position: int
    message: str
    normalised: str | None
    first_name: str
