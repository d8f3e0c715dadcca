"""The retry policy where no SDK retries (Ollama, the async OpenAI path): tenacity, one layer, bounded."""

from __future__ import annotations

from tenacity import RetryCallState, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from python_udfs.errors import ProviderUnavailable, RateLimited

__all__ = ["retry_after_seconds", "retry_policy"]

# A server asking for more than this is treated as down for this request: the row is recorded as
# an error and the next run retries it, instead of one row holding a worker for minutes.
MAX_RETRY_AFTER_SECONDS = 30.0


def retry_after_seconds(header: str | None) -> float | None:
    """A Retry-After header in seconds (None: absent, or an HTTP date, which is left to backoff)."""
    return float(header) if header and header.replace(".", "").isdigit() else None


def retry_policy(max_retries: int, backoff_seconds: float = 0.5) -> dict:
    """Arguments for `tenacity.Retrying`: exponential backoff with full jitter, Retry-After honoured."""
    jittered = wait_random_exponential(multiplier=backoff_seconds, max=20)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return min(error.retry_after, MAX_RETRY_AFTER_SECONDS)
        return jittered(state)

    return {
        "retry": retry_if_exception_type((ProviderUnavailable, RateLimited)),
        "wait": wait,
        "stop": stop_after_attempt(max_retries + 1),
        "reraise": True,
    }
