"""OpenAI's chat completions, or any OpenAI-compatible server (vLLM, llama.cpp's server, Ollama's /v1).

`complete` is the blocking call (the thread engine's), through the SDK. `acomplete` is its async
twin (the async engine's: one event loop, keep-alive connections, no thread per call), on aiohttp
directly: the SDK's async client spends about 1.8 ms of Python per call (request and response
models, httpx), a third of a 320-calls-a-second budget that the GIL serialises; a plain JSON POST
costs about 0.3 ms. It sends the same JSON body, maps the same statuses to the same errors and
retries as the SDK does (tenacity: exponential backoff with jitter, Retry-After honoured).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tenacity import AsyncRetrying, retry_if_exception

from python_udfs.errors import GenerationError, ProviderUnavailable, RateLimited
from python_udfs.generation.providers.base import (
    AsyncRequestCounter,
    Completion,
    CompletionRequest,
    RequestCounter,
)
from python_udfs.generation.providers.retrying import retry_after_seconds, retry_policy

if TYPE_CHECKING:
    import aiohttp

__all__ = ["OpenAIProvider"]


class OpenAIProvider:
    name = "openai"
    style = "chat"
    max_parallel = None

    def __init__(self, model: str, base_url: str | None, timeout: float, max_retries: int) -> None:
        self.model = model
        # The key comes from the environment only, and lives only in the SDK client's arguments and
        # the header the async session sends (never in a log line or an error message).
        api_key = os.environ.get("OPENAI_API_KEY")
        if not api_key:
            if base_url is None:
                raise ProviderUnavailable(
                    "provider 'openai' needs OPENAI_API_KEY in the environment "
                    "(or OPENAI_BASE_URL pointing at a server that needs no key)",
                    reason="no_api_key",
                )
            api_key = "unused"  # the SDK insists on one; local servers ignore it
        # The SDK's own retries (exponential backoff with jitter, Retry-After honoured) are the only
        # retry layer; its defaults (2 retries, 10 minutes) are replaced by explicit settings. They
        # happen inside the SDK, so the HTTP client counts every request it sends: the run ledger
        # records the retries (`http_retries`) beside the calls.
        self.request_counter = RequestCounter()
        self.async_request_counter = AsyncRequestCounter()
        self._client_arguments = {
            "api_key": api_key,
            "base_url": base_url,
            "timeout": timeout,
            "max_retries": max_retries,
        }
        self._async_headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout = timeout
        self._completions_url = f"{(base_url or 'https://api.openai.com/v1').rstrip('/')}/chat/completions"
        self._async_retry = retry_policy(max_retries) | {"retry": retry_if_exception(_worth_retrying)}
        # Made on first use, inside the event loop that will use its connections.
        self._session: aiohttp.ClientSession | None = None

    @functools.cached_property
    def _client(self):
        """The SDK's client, made on the first blocking call: the async path (the default engine,
        and every Ray actor) never needs it, and importing the SDK costs half a second a process."""
        import openai

        timeout = self._client_arguments["timeout"]
        http_client = openai.DefaultHttpxClient(
            timeout=timeout, event_hooks={"request": [self.request_counter]}
        )
        return openai.OpenAI(**self._client_arguments, http_client=http_client)

    def complete(self, request: CompletionRequest) -> Completion:
        started = time.perf_counter()
        with _translated_errors():
            response = self._client.chat.completions.create(**self._arguments(request))
        return _completion(response.model_dump(), started)

    async def acomplete(self, request: CompletionRequest) -> Completion:
        """`complete` without blocking: for many calls in flight on one event loop."""
        if self._session is None:
            # Imported on the first call: a run with nothing to ask (an unchanged re-run) never pays
            # aiohttp's import, 0.2 s of the re-run.
            import aiohttp

            self._session = aiohttp.ClientSession(
                headers=self._async_headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                # UTF-8 as it is, as the SDK sends it (not \u escapes: shorter, and readable in logs).
                json_serialize=functools.partial(json.dumps, ensure_ascii=False),
            )
        async for attempt in AsyncRetrying(**self._async_retry):
            with attempt:
                return await self._post(self._session, request)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def aclose(self) -> None:
        """Close the async connections (from the event loop that used them)."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def _post(self, session: aiohttp.ClientSession, request: CompletionRequest) -> Completion:
        """One HTTP request, its failure as the project's error (what `_translated_errors` gives)."""
        import aiohttp  # loaded by `acomplete` already: a lookup

        started, counter, answered = time.perf_counter(), self.async_request_counter, False
        try:
            async with session.post(self._completions_url, json=self._arguments(request)) as response:
                counter.sent()
                answered = True
                if response.status != 200:
                    raise _status_error(response.status, response.headers.get("retry-after"))
                payload = await response.json(content_type=None)
        except aiohttp.ClientConnectorError as error:  # no connection: the server was sent nothing
            raise ProviderUnavailable(f"cannot reach the server: {error}", reason="connection") from None
        except (asyncio.TimeoutError, aiohttp.ClientError) as error:
            if not answered:
                counter.sent()  # sent, then no answer (a hang, a dropped connection)
            if isinstance(error, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
                raise ProviderUnavailable("the server did not answer in time", reason="timeout") from None
            raise ProviderUnavailable(
                f"cannot reach the server: {type(error).__name__}", reason="connection"
            ) from None
        except ValueError as error:  # a body that is not JSON
            raise GenerationError(
                f"unreadable answer: {type(error).__name__}", reason="bad_response"
            ) from None
        return _completion(payload, started)

    def _arguments(self, request: CompletionRequest) -> dict:
        return {
            "model": self.model,
            "messages": request.prompt.chat_messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "seed": request.seed,
        }


def _completion(payload, started: float) -> Completion:
    """The answer's JSON (the SDK's, dumped, or aiohttp's) as a Completion."""
    try:
        choices = payload["choices"]
        usage = payload.get("usage") or {}
        text = choices[0]["message"]["content"] if choices else None
        prompt_tokens, completion_tokens = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        raise GenerationError(f"unreadable answer: {type(error).__name__}", reason="bad_response") from None
    if not choices:
        raise GenerationError("the answer had no choices", reason="bad_response")
    return Completion(
        text=text or "",
        prompt_tokens=prompt_tokens or 0,
        completion_tokens=completion_tokens or 0,
        latency_ms=(time.perf_counter() - started) * 1000,
    )


def _status_error(status: int, retry_after: str | None) -> GenerationError:
    """A non-200 answer as the error the SDK's client would have led to."""
    if status == 429:
        return RateLimited(
            "the server kept answering 429 Too Many Requests",
            retry_after=retry_after_seconds(retry_after),
        )
    if status == 401:
        # Never echo the server's text: some servers repeat the key they were sent.
        return ProviderUnavailable("the server rejected the API key", reason="authentication")
    if status >= 500 or status in (408, 409):  # the statuses the SDK retries
        return ProviderUnavailable(f"the server failed ({status})", reason="server_error")
    return GenerationError(f"the server refused the request ({status})", reason="http_error")


def _worth_retrying(error: BaseException) -> bool:
    """What the SDK retries: rate limits, server failures, timeouts, lost connections; not a bad key."""
    return isinstance(error, (RateLimited, ProviderUnavailable)) and error.reason != "authentication"


@contextmanager
def _translated_errors() -> Iterator[None]:
    """The SDK's exceptions as the project's errors."""
    import openai

    try:
        yield
    except openai.RateLimitError as error:
        raise RateLimited(
            "the server kept answering 429 Too Many Requests",
            retry_after=retry_after_seconds(error.response.headers.get("retry-after")),
        ) from None
    except openai.APITimeoutError:
        raise ProviderUnavailable("the server did not answer in time", reason="timeout") from None
    except openai.APIConnectionError as error:
        raise ProviderUnavailable(f"cannot reach the server: {error}", reason="connection") from None
    except openai.InternalServerError as error:
        raise ProviderUnavailable(f"the server failed ({error.status_code})", reason="server_error") from None
    except openai.AuthenticationError:
        # Never echo the server's text: some servers repeat the key they were sent.
        raise ProviderUnavailable("the server rejected the API key", reason="authentication") from None
    except openai.APIStatusError as error:
        raise GenerationError(
            f"the server refused the request ({error.status_code})", reason="http_error"
        ) from None
    except (openai.APIResponseValidationError, ValueError) as error:
        raise GenerationError(f"unreadable answer: {type(error).__name__}", reason="bad_response") from None
