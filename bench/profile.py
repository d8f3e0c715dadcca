"""Where a generation run's time goes: wall time per phase, measured by timing the functions that do it.

    with PhaseTimer() as phases:
        generate_missing(...)
    phases.seconds  # {"planning": 0.4, "http": 3.1, ...}

Only the thread that runs `generate_missing` is timed (the engines' workers and the cache writer
run beside it): each phase is the time that thread spent inside the phase's functions, so the
phases and `other` add up to the run's wall time. A function called inside another timed one
counts for the outer one only.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator

from python_udfs.generation import cache, execution, generator, keys, orchestrator, planning, rounds
from python_udfs.generation.engines import async_http

__all__ = ["PHASES", "PhaseTimer"]

# phase: what it covers, and the (owner, attribute) functions that do it.
PHASES: dict[str, tuple[str, list[tuple[object, str]]]] = {
    "planning": (
        "targets, history and offers in DuckDB; rows to records; prompt render and SHA-256 keys per job",
        [
            (planning.RunPlan, "__init__"),
            (planning.RunPlan, "round"),
            (planning.RunPlan, "remember_ok"),
            (rounds.Round, "rows_at"),
            (keys.RequestKeys, "plan"),
        ],
    ),
    "cache lookups": (
        "replay of stored decisions and the per-wave lookups, set-based in DuckDB",
        [(orchestrator, "replay_decided"), (cache.ResponseCache, "lookup_planned")],
    ),
    "http": (
        "waiting for the engine's next answer (the model calls themselves)",
        [(execution.ThreadEngine, "run"), (async_http.AsyncEngine, "run")],
    ),
    "validation": ("judging each answer: validation and duplicate checks", [(generator, "judge_wave")]),
    "cache writes": (
        "queueing answers for the writer thread, storing decisions, the final flush",
        [
            (execution.Executor, "_store"),
            (cache.ResponseCache, "record_decisions"),
            (cache.ResponseCache, "flush"),
        ],
    ),
    "output": (
        "the jobs' rows as arrow, added to the run's output in DuckDB",
        [(orchestrator, "jobs_table"), (planning.RunPlan, "add_output")],
    ),
}


class PhaseTimer:
    """Patches the phases' functions with timers while inside the `with` block."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._thread: int | None = None
        self._busy = False
        self._originals: list[tuple[object, str, object]] = []

    def __enter__(self) -> PhaseTimer:
        self._thread = threading.get_ident()
        for phase, (_, functions) in PHASES.items():
            for owner, name in functions:
                original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
                self._originals.append((owner, name, original))
                timed = self._timed_iterator if name == "run" else self._timed
                setattr(owner, name, timed(phase, original))
        return self

    def __exit__(self, *exc) -> None:
        for owner, name, original in reversed(self._originals):
            setattr(owner, name, original)
        self._originals.clear()

    def breakdown(self, wall_seconds: float) -> dict[str, float]:
        """Each phase's seconds, plus `other`: the rest of the wall time (rounds, progress, ledger)."""
        timed = {phase: round(self.seconds.get(phase, 0.0), 3) for phase in PHASES}
        return timed | {"other": round(max(0.0, wall_seconds - sum(timed.values())), 3)}

    def _counts(self) -> bool:
        return not self._busy and threading.get_ident() == self._thread

    def _timed(self, phase: str, function: Callable) -> Callable:
        def timed(*args, **kwargs):
            if not self._counts():
                return function(*args, **kwargs)
            self._busy, started = True, time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - started
                self._busy = False

        return timed

    def _timed_iterator(self, phase: str, function: Callable) -> Callable:
        def timed(*args, **kwargs) -> Iterator:
            results = function(*args, **kwargs)
            while True:
                counts, started = self._counts(), time.perf_counter()
                self._busy = self._busy or counts
                try:
                    item = next(results)
                except StopIteration:
                    return
                finally:
                    if counts:
                        self.seconds[phase] += time.perf_counter() - started
                        self._busy = False
                yield item

        return timed
