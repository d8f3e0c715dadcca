"""Everything this package raises on purpose: one base class, one subclass per thing a user can fix.

Command-line entry points catch `MarketingError` and print its message (no traceback): each message
names what is wrong and what to do about it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DatabaseInUse", "InputFileError", "MarketingError"]


class MarketingError(Exception):
    """Base for everything this package raises on purpose."""


class DatabaseInUse(MarketingError):
    """Another process holds the DuckDB file open for writing; the message names it."""


class InputFileError(MarketingError):
    """A client export cannot be read as configured.

    `path` is the file, `row` the 1-based line in the file (the header is line 1; None when the
    problem is the whole file) and `problem` what is wrong, in words a user understands.
    """

    def __init__(self, path: str | Path, problem: str, row: int | None = None) -> None:
        self.path = str(path)
        self.row = row
        self.problem = problem
        where = self.path if row is None else f"{self.path}, line {row}"
        super().__init__(f"{where}: {problem}")


# The generative step (python_udfs/generation). `reason` is a short code that lands in the
# `error_reason` column and in failure summaries, so runs can be grouped by what went wrong.
__all__ += ["GenerationError", "InvalidMessage", "ProviderUnavailable", "RateLimited", "TooManyFailures"]


class GenerationError(MarketingError):
    """A request to the language model did not give a usable answer."""

    def __init__(self, message: str, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason


class ProviderUnavailable(GenerationError):
    """The model server cannot be reached, timed out or failed (5xx); worth retrying."""


class RateLimited(GenerationError):
    """The server answered 429; `retry_after` is its Retry-After in seconds, when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, reason="rate_limited")
        self.retry_after = retry_after


class InvalidMessage(GenerationError):
    """The answer failed validation; `reason` says why."""


class TooManyFailures(GenerationError):
    """More rows failed than the configured share allows; `summary` counts them by reason."""

    def __init__(self, message: str, summary: dict[str, int]) -> None:
        super().__init__(message, reason="too_many_failures")
        self.summary = summary


# The bank-CRM path (python_udfs/crm).
__all__ += ["ApiUnreachable", "CrmRefused"]


class ApiUnreachable(MarketingError):
    """No usable answer from the CRM API (connection refused, timeout, 5xx) after the client's retries."""


class CrmRefused(MarketingError):
    """The CRM API refused the token (HTTP 401/403): retrying cannot help, the token must change."""
