"""The one interface every provider implements, and the request and answer it exchanges."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Completion", "CompletionRequest", "Prompt", "Provider"]


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt: `system` + `user` for chat models, `completion` for base models.

    A base model continues `completion`, which ends with `answer_prefix` (the start of the line it
    should finish, e.g. "João,"); the provider puts the prefix back in front of the answer.
    """

    system: str = ""
    user: str = ""
    completion: str | None = None
    answer_prefix: str = ""

    @property
    def text(self) -> str:
        """Everything the model reads, as one string: what the prompt hash and cache key cover."""
        if self.completion is not None:
            return self.completion
        return f"[system]\n{self.system}\n[user]\n{self.user}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CompletionRequest:
    prompt: Prompt
    temperature: float
    max_tokens: int
    seed: int


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float


class Provider(Protocol):
    """A language model behind one method. Implementations raise `python_udfs.errors` classes only."""

    name: str
    model: str
    # "chat" (system + user messages) or "completion" (few-shot text for base models).
    style: str
    # How many requests are worth sending at once: None means the configured concurrency.
    max_parallel: int | None

    def complete(self, request: CompletionRequest) -> Completion: ...
