"""Model calls: an engine sends them, `Executor` caches each answer as it arrives and fails fast.

An engine is anything with `run(calls) -> iterator of CallResult` (the `Engine` protocol): it sends
the calls however it likes (threads here; an async HTTP client or a Ray actor pool elsewhere) and
yields each result as soon as it has it, in any order. Everything that must hold whatever the
engine is lives in `Executor`, on the caller's side: each answer is written to the response cache
the moment the engine yields it (so a crash loses only the calls in flight), calls and HTTP
retries are counted, and a run whose first calls all fail stops instead of trying every row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import datetime, timezone
from typing import Protocol

from python_udfs.errors import GenerationError, TooManyFailures
from python_udfs.generation.cache import ResponseCache
from python_udfs.generation.ledger import CallCounts
from python_udfs.generation.progress import Progress
from python_udfs.generation.prompts import PROMPT_VERSION
from python_udfs.generation.providers.base import Completion, Provider
from python_udfs.generation.records import Call, CallResult
from python_udfs.generation.settings import Settings

__all__ = ["Engine", "Executor", "RateLimiter", "ThreadEngine", "build_engine", "concurrency"]

# A run stops when this many calls (or twice the concurrency, if more) have all failed.
_FAIL_FAST_CALLS = 20


class Engine(Protocol):
    """Sends model calls and yields each one's result as soon as it has it, in any order."""

    # How many calls it keeps in flight (what the fail-fast threshold scales with).
    @property
    def concurrency(self) -> int: ...

    def run(self, calls: Iterable[Call]) -> Iterator[CallResult]: ...

    def close(self, cancel: bool = False) -> None:
        """Release workers; `cancel` drops calls not started yet (Ctrl-C, a failed run)."""
        ...


def concurrency(settings: Settings, provider: Provider) -> int:
    """Calls worth having in flight: the setting, capped by what the provider can run at once."""
    return max(1, min(settings.max_concurrency, provider.max_parallel or settings.max_concurrency))


def build_engine(settings: Settings, provider: Provider) -> Engine:
    """The engine the settings ask for: threads making blocking calls, asyncio tasks on one event
    loop (`auto` picks it for any provider with an async twin: the HTTP ones), or a Ray actor pool."""
    if settings.engine == "ray":
        # Imported on demand: Ray is an optional extra, slow to import.
        from python_udfs.generation.engines.ray_engine import RayEngine

        return RayEngine(settings, provider)
    from python_udfs.generation.engines.async_http import AsyncEngine, supports_async

    limiter = RateLimiter(settings.requests_per_minute) if settings.requests_per_minute else None
    if settings.engine == "async" and not supports_async(provider):
        raise GenerationError(
            f"engine 'async' needs an HTTP provider (openai or ollama), not {provider.name!r}",
            reason="engine",
        )
    if settings.engine in ("async", "auto") and supports_async(provider):
        return AsyncEngine(provider, concurrency(settings, provider), limiter)  # type: ignore[arg-type]
    return ThreadEngine(provider, concurrency(settings, provider), limiter)


class RateLimiter:
    """At most `per_minute` request starts a minute, evenly spaced (thread-safe)."""

    def __init__(self, per_minute: int) -> None:
        self._interval = 60.0 / per_minute
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            start = max(self._next, time.monotonic())
            self._next = start + self._interval
        time.sleep(max(0.0, start - time.monotonic()))


class ThreadEngine:
    """Blocking provider calls on a thread pool, at most `concurrency` at once."""

    def __init__(self, provider: Provider, concurrency: int, limiter: RateLimiter | None = None) -> None:
        self.provider = provider
        self.concurrency = concurrency
        self._limiter = limiter
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="llm")

    def run(self, calls: Iterable[Call]) -> Iterator[CallResult]:
        # Twice the workers queued: a worker never waits for the next call to be submitted.
        inflight: set[Future] = set()
        pending = iter(calls)
        exhausted = False
        while inflight or not exhausted:
            while not exhausted and len(inflight) < self.concurrency * 2:
                call = next(pending, None)
                if call is None:
                    exhausted = True
                    break
                inflight.add(self._pool.submit(self._call, call))
            if not inflight:
                break
            finished, inflight = wait(inflight, timeout=0.5, return_when=FIRST_COMPLETED)
            yield from _results(finished)

    def close(self, cancel: bool = False) -> None:
        # On Ctrl-C: queued calls are dropped; the ones in flight finish, unread.
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)

    def _call(self, call: Call) -> CallResult:
        if self._limiter:
            self._limiter.acquire()
        # Test doubles and simple providers may not count their requests.
        counter = getattr(self.provider, "request_counter", None)
        if counter is not None:
            counter.reset()
        try:
            answer = self.provider.complete(call.request)
        except GenerationError as error:
            return CallResult(call, error, _sent(counter))
        except Exception as error:  # one row's surprise must not end the run: it is recorded instead
            surprise = GenerationError(f"unexpected {type(error).__name__}", reason="unexpected")
            return CallResult(call, surprise, _sent(counter))
        return CallResult(call, answer, _sent(counter))


def _results(finished: set[Future]) -> Iterator[CallResult]:
    """The finished calls' results; a Ctrl-C raised inside a call is re-raised after the others,
    so that the answers that did arrive are still cached."""
    interrupted: BaseException | None = None
    for future in finished:
        error = future.exception()
        if error is not None:
            interrupted = interrupted or error
            continue
        yield future.result()
    if interrupted is not None:
        raise interrupted


def _sent(counter) -> int:
    """HTTP requests of the call just made; 1 for a provider that does not count (one call)."""
    return counter.count if counter is not None else 1


class Executor:
    """Runs calls through an engine: caches each answer as it arrives, counts, fails fast."""

    def __init__(self, engine: Engine, provider: Provider, cache: ResponseCache, progress: Progress) -> None:
        self.engine = engine
        self.provider = provider
        self.cache = cache
        self.progress = progress
        self.counts = CallCounts()

    def run(self, calls: Iterable[Call]) -> Iterator[CallResult]:
        """Each call's result, with `created_at` set once its answer is in the cache."""
        for result in self.engine.run(calls):
            answer = result.answer
            if not isinstance(answer, GenerationError):
                result = replace(result, created_at=self._store(result.call, answer))
            self.counts.record(result)
            self.progress.call_finished()
            yield result
            self._fail_fast()
            self.progress.tick()

    def close(self, cancel: bool = False) -> None:
        self.engine.close(cancel=cancel)

    def _store(self, call: Call, answer: Completion) -> datetime:
        created_at = datetime.now(timezone.utc)
        self.cache.put(
            call.key,
            provider=self.provider.name,
            model=self.provider.model,
            prompt_version=PROMPT_VERSION,
            prompt_hash=call.prompt_hash,
            completion=answer,
            created_at=created_at,
        )
        return created_at

    def _fail_fast(self) -> None:
        # A dead server or a wrong model name fails every call: stop after a handful, not after all.
        counts = self.counts
        if counts.answers or counts.model_calls < max(_FAIL_FAST_CALLS, 2 * self.engine.concurrency):
            return
        reasons = dict(counts.failure_reasons.most_common())
        detail = ", ".join(f"{reason} {count}" for reason, count in reasons.items())
        hint = (
            "Check that the model server is running and reachable at the configured URL "
            f"(OPENAI_BASE_URL or OLLAMA_HOST), that the model name ({self.provider.model}) is one "
            "it serves, and the API key."
        )
        if "rate_limited" in reasons:
            hint += " It refuses the request rate: lower max_concurrency or set requests_per_minute."
        raise TooManyFailures(
            f"the first {counts.model_calls} model calls all failed ({detail}); stopping. {hint} "
            "Answers received so far are cached: fix the cause and run again to resume.",
            reasons,
        )
