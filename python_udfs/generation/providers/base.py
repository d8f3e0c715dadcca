"""The one interface every provider implements, and the request and answer it exchanges."""

from __future__ import annotations

import contextvars
import hashlib
import threading
from dataclasses import dataclass
from typing import Protocol

__all__ = ["AsyncRequestCounter", "Completion", "CompletionRequest", "Prompt", "Provider", "RequestCounter"]


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
        return self.chat_text(self.system, self.user)

    @property
    def chat_messages(self) -> list[dict[str, str]]:
        """The chat as the `messages` list both the OpenAI and the Ollama APIs take."""
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]

    @staticmethod
    def chat_text(system: str, user: str) -> str:
        """A chat prompt as one string (what `text` gives), for callers without a Prompt object."""
        return f"[system]\n{system}\n[user]\n{user}"

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


class RequestCounter:
    """Counts the HTTP requests a provider sends, retries included, per calling thread.

    Installed as an httpx `request` event hook, it runs in the thread that sends the request: the
    thread that called `complete`. So `reset()` before a call and `count` after it give that call's
    requests, however many calls run at once. A request counts once its body is written to the
    connection (httpcore's trace events): a connection that never opened sent the server nothing.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def reset(self) -> None:
        self._local.count = 0

    @property
    def count(self) -> int:
        return getattr(self._local, "count", 0)

    def __call__(self, request) -> None:
        earlier = request.extensions.get("trace")

        def trace(event: str, info: dict) -> None:
            if event.endswith("send_request_body.complete"):
                self._local.count = self.count + 1
            if earlier is not None:
                earlier(event, info)

        request.extensions["trace"] = trace


class AsyncRequestCounter:
    """`RequestCounter` for an async HTTP client: counts per asyncio task instead of per thread.

    Each task runs in its own copy of the context, so `reset()` at the start of a call gives that
    call a fresh tally which the client's (async) hook and trace callbacks, running in the same
    task, add to.
    """

    def __init__(self) -> None:
        self._tally: contextvars.ContextVar[list[int]] = contextvars.ContextVar("http_requests")

    def reset(self) -> None:
        self._tally.set([0])

    @property
    def count(self) -> int:
        return self._tally.get([0])[0]

    def sent(self) -> None:
        """Count one request, for a client without hooks (the caller knows it sent one)."""
        tally = self._tally.get(None)
        if tally is not None:
            tally[0] += 1

    async def __call__(self, request) -> None:
        earlier = request.extensions.get("trace")
        tally = self._tally.get(None)

        async def trace(event: str, info: dict) -> None:
            if event.endswith("send_request_body.complete") and tally is not None:
                tally[0] += 1
            if earlier is not None:
                await earlier(event, info)

        request.extensions["trace"] = trace


class Provider(Protocol):
    """A language model behind one method. Implementations raise `python_udfs.errors` classes only.

    The attributes are read-only here, so a class attribute (`max_parallel = 1`) satisfies them.
    """

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str: ...

    # "chat" (system + user messages) or "completion" (few-shot text for base models).
    @property
    def style(self) -> str: ...

    # How many requests are worth sending at once: None means the configured concurrency.
    @property
    def max_parallel(self) -> int | None: ...

    # HTTP providers count the requests they send (retries included); None for in-process models.
    @property
    def request_counter(self) -> RequestCounter | None: ...

    def complete(self, request: CompletionRequest) -> Completion: ...
