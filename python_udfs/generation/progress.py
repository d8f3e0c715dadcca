"""Progress on stderr while a run goes: one line every few seconds, never one line per row."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    def __init__(
        self, total: int, label: str = "generation", stream: TextIO | None = None, every: float = 5.0
    ):
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.every = every
        self.done = self.cached = self.failed = self.calls = 0
        self.started = self._printed = time.monotonic()

    def rows_answered(self, count: int, *, cached: bool) -> None:
        """Rows with a first answer (validation and regeneration may follow)."""
        self.done += count
        self.cached += count if cached else 0

    def rows_failed(self, count: int) -> None:
        self.failed += count

    def call_finished(self) -> None:
        self.calls += 1

    def tick(self) -> None:
        """Print a line if the last one is older than `every` seconds."""
        now = time.monotonic()
        if now - self._printed >= self.every and self.done < self.total:
            self._printed = now
            self._print(self._line(now))

    def summary(self, ok: int, rejected: int, error: int, model_calls: int, http_retries: int = 0) -> str:
        seconds = time.monotonic() - self.started
        line = (
            f"{self.label}: {self.total} rows in {seconds:.1f}s: "
            f"{ok} ok, {rejected} rejected, {error} error; "
            f"{self.cached} from cache, {model_calls} model calls, {http_retries} HTTP retries"
        )
        self._print(line)
        return line

    def _line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        eta = f"{(self.total - self.done) / rate:.0f}s" if rate > 0 else "?"
        return (
            f"{self.label}: {self.done}/{self.total} rows, {self.cached} cached, {self.failed} failed, "
            f"{self.calls} calls, {rate:.1f} rows/s, ETA {eta}"
        )

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)
