"""Ollama's native API (`/api/chat`) through the `ollama` client, as the original example used it.

`complete` blocks (the thread engine's call); `acomplete` is its async twin on `ollama.AsyncClient`
(the async engine's). Both send the same request, retry the same way and translate the same errors.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import ollama
from tenacity import AsyncRetrying, Retrying

from python_udfs.errors import GenerationError, ProviderUnavailable, RateLimited
from python_udfs.generation.providers.base import (
    AsyncRequestCounter,
    Completion,
    CompletionRequest,
    RequestCounter,
)
from python_udfs.generation.providers.retrying import retry_after_seconds, retry_policy

__all__ = ["OllamaProvider"]


def _raise_on_429(response: httpx.Response) -> None:
    # The client turns HTTP errors into ResponseError and drops the headers: read Retry-After here.
    if response.status_code == 429:
        raise RateLimited(
            "Ollama answered 429 Too Many Requests",
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )


async def _araise_on_429(response: httpx.Response) -> None:
    # The async client's hooks must be coroutines.
    _raise_on_429(response)


class OllamaProvider:
    name = "ollama"
    style = "chat"
    max_parallel = None

    def __init__(
        self, model: str, host: str | None, timeout: float, max_retries: int, backoff_seconds: float = 0.5
    ) -> None:
        self.model = model
        # The client has no timeout by default: a hung server would hold a worker forever.
        # Every request sent is counted, the tenacity retries below included (the run ledger's
        # `http_retries`).
        self.request_counter = RequestCounter()
        self._client = ollama.Client(
            host=host,
            timeout=timeout,
            event_hooks={"request": [self.request_counter], "response": [_raise_on_429]},
        )
        self._retry = retry_policy(max_retries, backoff_seconds)
        self._host, self._timeout = host, timeout
        self.async_request_counter = AsyncRequestCounter()
        # Made on first use, inside the event loop that will use its connections.
        self._async_client: ollama.AsyncClient | None = None

    def complete(self, request: CompletionRequest) -> Completion:
        for attempt in Retrying(**self._retry):
            with attempt:
                started = time.perf_counter()
                with _translated_errors():
                    response = self._client.chat(**self._arguments(request))
                return _completion(response, started)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def acomplete(self, request: CompletionRequest) -> Completion:
        """`complete` without blocking: for many calls in flight on one event loop."""
        if self._async_client is None:
            self._async_client = ollama.AsyncClient(
                host=self._host,
                timeout=self._timeout,
                event_hooks={"request": [self.async_request_counter], "response": [_araise_on_429]},
            )
        async for attempt in AsyncRetrying(**self._retry):
            with attempt:
                started = time.perf_counter()
                with _translated_errors():
                    response = await self._async_client.chat(**self._arguments(request))
                return _completion(response, started)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def aclose(self) -> None:
        """Close the async client's connections (from the event loop that used them)."""
        if self._async_client is not None:
            client, self._async_client = self._async_client, None
            await client.close()

    def _arguments(self, request: CompletionRequest) -> dict:
        return {
            "model": self.model,
            "messages": request.prompt.chat_messages,
            "options": {
                "temperature": request.temperature,
                "seed": request.seed,
                "num_predict": request.max_tokens,
            },
        }


def _completion(response, started: float) -> Completion:
    return Completion(
        text=response.message.content or "",
        prompt_tokens=response.prompt_eval_count or 0,
        completion_tokens=response.eval_count or 0,
        latency_ms=(time.perf_counter() - started) * 1000,
    )


@contextmanager
def _translated_errors() -> Iterator[None]:
    """The client's exceptions (sync or async alike) as the project's errors."""
    try:
        yield
    except ollama.ResponseError as error:
        if error.status_code >= 500:
            raise ProviderUnavailable(f"Ollama failed: {error}", reason="server_error") from None
        raise GenerationError(f"Ollama refused the request: {error}", reason="http_error") from None
    except ConnectionError as error:
        raise ProviderUnavailable(str(error), reason="connection") from None
    except httpx.TimeoutException:
        raise ProviderUnavailable("Ollama did not answer in time", reason="timeout") from None
    except httpx.TransportError as error:
        raise ProviderUnavailable(f"Ollama connection failed: {error!r}", reason="connection") from None
    except ValueError as error:  # malformed JSON or a body that is not a chat response
        raise GenerationError(f"Ollama sent an unreadable answer: {error}", reason="bad_response") from None
