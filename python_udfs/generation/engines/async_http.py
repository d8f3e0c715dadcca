"""Model calls as asyncio tasks on one event loop: the default engine for HTTP providers.

`generation_engine: async` selects it (`auto`, the default, does for any provider with an async
twin, `acomplete`: openai and ollama). Where the thread engine keeps one blocking call per thread,
this keeps every call in flight on one event loop, in a thread of its own, over keep-alive
connections: no thread switches, no GIL hand-offs between sixteen threads, less Python per call.

The engine protocol is unchanged: `run` hands a wave's calls to the loop at once and yields each
result as it arrives, so the `Executor` still caches every answer the moment it is yielded (a crash
loses only the calls in flight, and answers queued but not yet read).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Protocol

from python_udfs.errors import GenerationError
from python_udfs.generation.execution import RateLimiter
from python_udfs.generation.providers.base import AsyncRequestCounter, Completion, CompletionRequest
from python_udfs.generation.records import Call, CallResult

__all__ = ["AsyncEngine", "AsyncProvider", "supports_async"]

# What the workers queue once every call is answered.
_DONE = object()
# How long closing waits for the loop to cancel its calls and close the provider's connections.
_CLOSE_TIMEOUT_SECONDS = 10.0


class AsyncProvider(Protocol):
    """A provider with an async twin of `complete` (and a way to close its async connections)."""

    @property
    def async_request_counter(self) -> AsyncRequestCounter: ...

    async def acomplete(self, request: CompletionRequest) -> Completion: ...

    async def aclose(self) -> None: ...


def supports_async(provider: object) -> bool:
    """True for a provider this engine can drive (the HTTP ones; not the embedded model)."""
    return callable(getattr(provider, "acomplete", None)) and callable(getattr(provider, "aclose", None))


class AsyncEngine:
    """Calls `provider.acomplete` as tasks on a private event loop, at most `concurrency` at once."""

    def __init__(self, provider: AsyncProvider, concurrency: int, limiter: RateLimiter | None = None) -> None:
        self.provider = provider
        self.concurrency = concurrency
        self._limiter = limiter
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="llm-async", daemon=True)
        self._thread.start()
        self._closed = False

    def run(self, calls: Iterable[Call]) -> Iterator[CallResult]:
        # One hand-off for the whole wave: `concurrency` workers on the loop take the calls in turn
        # and queue each result; this thread only reads the queue (no wake-up of the loop per call).
        results: queue.Queue = queue.Queue()
        driving = asyncio.run_coroutine_threadsafe(self._drive(list(calls), results), self._loop)
        while (result := results.get()) is not _DONE:
            yield result
        driving.result()  # re-raises what stopped the workers, if anything did

    def close(self, cancel: bool = False) -> None:
        """Stop the loop once its calls are done (`cancel`: dropped) and its connections closed."""
        if self._closed:
            return
        self._closed = True
        shutdown = asyncio.run_coroutine_threadsafe(self._shutdown(cancel), self._loop)
        try:
            shutdown.result(timeout=_CLOSE_TIMEOUT_SECONDS)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=_CLOSE_TIMEOUT_SECONDS)
            if not self._thread.is_alive():
                self._loop.close()

    async def _drive(self, calls: list[Call], results: queue.Queue) -> None:
        pending = iter(calls)

        async def worker() -> None:
            # The workers share one iterator: the loop runs one at a time, so each call goes once.
            for call in pending:
                results.put(await self._call(call))

        try:
            await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(calls)))))
        finally:
            results.put(_DONE)

    async def _call(self, call: Call) -> CallResult:
        if self._limiter:
            # The limiter sleeps: off the loop, so the other calls keep going meanwhile.
            await asyncio.get_running_loop().run_in_executor(None, self._limiter.acquire)
        # Each task has its own context: this call's tally starts here.
        counter = self.provider.async_request_counter
        counter.reset()
        try:
            answer = await self.provider.acomplete(call.request)
        except GenerationError as error:
            return CallResult(call, error, counter.count)
        except Exception as error:  # one row's surprise must not end the run: it is recorded instead
            surprise = GenerationError(f"unexpected {type(error).__name__}", reason="unexpected")
            return CallResult(call, surprise, counter.count)
        return CallResult(call, answer, counter.count)

    async def _shutdown(self, cancel: bool) -> None:
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        if cancel:
            for task in tasks:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.provider.aclose()
