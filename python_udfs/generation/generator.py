"""The per-job runner: each job through cache, model, judging and bounded regeneration, in waves.

A wave plans every pending job's request at its next attempt, takes what the cache has, calls the
model for the rest (through an engine, see `execution`), judges every answer and sends the rejected
ones to the next wave. A job gets at most `max_regenerations + 1` attempts in a run.
"""

from __future__ import annotations

import pyarrow as pa

from python_udfs.errors import GenerationError, TooManyFailures
from python_udfs.generation.cache import CachedAnswer, ResponseCache
from python_udfs.generation.execution import Engine, Executor, build_engine
from python_udfs.generation.judging import (
    DUPLICATE_REASONS,
    RoundGuards,
    decision_checks,
    decisions_table,
    judge_wave,
    reject_unusable_name,
)
from python_udfs.generation.keys import RequestKeys
from python_udfs.generation.ledger import CallCounts
from python_udfs.generation.progress import Progress
from python_udfs.generation.providers.base import Completion, Provider
from python_udfs.generation.records import Call, Decision, Job, PlannedRequest, Received
from python_udfs.generation.settings import Settings

__all__ = ["Generator"]

# Failed calls worth a new request within the run, as a regeneration (one more attempt, a new seed):
# an unreadable 200 answer. The SDK never retries those (it retries only failed HTTP exchanges), so
# this adds no second retry layer on top of its own.
_REGENERATED_ERRORS = frozenset({"bad_response"})


class Generator:
    """Runs jobs through cache, model, judging and bounded regeneration."""

    def __init__(
        self,
        settings: Settings,
        provider: Provider,
        cache: ResponseCache,
        progress: Progress,
        engine: Engine | None = None,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.progress = progress
        self.keys = RequestKeys(settings, provider.name, provider.model, provider.style)
        self.executor = Executor(engine or build_engine(settings, provider), provider, cache, progress)

    @property
    def counts(self) -> CallCounts:
        return self.executor.counts

    def close(self, cancel: bool = False) -> None:
        self.executor.close(cancel=cancel)

    def run(self, jobs: list[Job], check_duplicates: bool = True, guards: RoundGuards | None = None) -> None:
        """Fill in each job's outcome. Jobs must come in a deterministic order.

        A cached answer with a decision made under the same checks is not judged again: the
        decision stands (so a replay ends exactly as the run that decided it). Every other answer,
        new or cached but undecided (a run stopped before it decided), is judged against the
        round's accepted messages (`guards`: those of rows settled before this call included), and
        the decision is stored with it.
        """
        guards = guards or RoundGuards()
        pending = [job for job in jobs if not reject_unusable_name(job)]
        self.progress.rows_failed(len(jobs) - len(pending))
        for wave in range(self.settings.max_regenerations + 1):
            if not pending:
                break
            pending = self._wave(pending, wave, guards, check_duplicates)

    def _wave(self, pending: list[Job], wave: int, guards: RoundGuards, check_duplicates: bool) -> list[Job]:
        """One attempt for every pending job; returns the jobs worth another attempt."""
        checks = decision_checks(check_duplicates)
        planned = [self.keys.plan(job.row, job.row.first_attempt + wave, job.avoid) for job in pending]
        received = self._cached(planned, checks)
        if wave == 0:
            self.progress.rows_answered(sum(answer is not None for answer in received), cached=True)
        answers = self._call_missing(pending, planned, received, wave)
        decisions, fresh = judge_wave(pending, answers, guards, check_duplicates)
        if fresh:
            self.cache.record_decisions(
                decisions_table(
                    [planned[index].key for index in fresh],
                    [answers[index] for index in fresh],
                    list(fresh.values()),
                    checks,
                )
            )
        last_wave = wave >= self.settings.max_regenerations
        retry = []
        for index, (job, plan, got) in enumerate(zip(pending, planned, answers, strict=True)):
            job.attempts, job.prompt_hash = job.row.first_attempt + wave, plan.prompt_hash
            answer = got.answer
            if isinstance(answer, GenerationError):
                again = self._settle_error(job, answer, last_wave)
            else:
                again = self._settle_answer(job, answer, got, decisions[index], last_wave)
            if again:
                retry.append(job)
        return retry

    def _cached(self, planned: list[PlannedRequest], checks: str) -> list[Received | None]:
        """The cached answer of each request (None: not cached), with its stored decision if any."""
        keys = pa.table({"request_hash": pa.array([plan.key for plan in planned], pa.string())})
        received: list[Received | None] = []
        for row in self.cache.lookup_planned(keys, checks).to_pylist():
            if not row["is_cached"]:
                received.append(None)
                continue
            decision = None
            if row["decision_status"] is not None:
                decision = Decision(
                    row["decision_status"],
                    row["decision_reason"],
                    row["decision_message"],
                    row["decision_normalised"],
                )
            answer = CachedAnswer(
                row["text"],
                row["prompt_tokens"],
                row["completion_tokens"],
                row["latency_ms"],
                row["created_at"],
            )
            received.append(Received(answer, row["created_at"], from_cache=True, decision=decision))
        return received

    def _call_missing(
        self, pending: list[Job], planned: list[PlannedRequest], received: list[Received | None], wave: int
    ) -> list[Received]:
        """Call the model for every request the cache did not answer; every answer, in order."""
        calls = [
            Call(index, plan.request, plan.key, plan.prompt_hash)
            for index, (plan, answer) in enumerate(zip(planned, received, strict=True))
            if answer is None
        ]
        try:
            for result in self.executor.run(calls):
                received[result.call.tag] = Received(result.answer, result.created_at, from_cache=False)
                if wave == 0:
                    self.progress.rows_answered(1, cached=False)
        except TooManyFailures:
            # The run stops here: the calls that failed still count as failed rows.
            for job, answer in zip(pending, received, strict=True):
                if answer is not None and isinstance(answer.answer, GenerationError):
                    job.attempts, job.is_cached = job.row.first_attempt + wave, False
                    job.status, job.error_reason = "error", f"{answer.answer.reason}: {answer.answer}"
            raise
        answers = [answer for answer in received if answer is not None]
        if len(answers) != len(received):
            raise GenerationError(
                f"the engine returned {len(calls) - len(received) + len(answers)} of {len(calls)} calls",
                reason="engine",
            )
        return answers

    def _settle_error(self, job: Job, error: GenerationError, last_wave: bool) -> bool:
        """Record a failed call; True when it is worth another attempt in this run."""
        job.is_cached = False
        job.status, job.error_reason = "error", f"{error.reason}: {error}"
        if error.reason in _REGENERATED_ERRORS and not last_wave:
            return True
        self.progress.rows_failed(1)
        return False

    def _settle_answer(
        self,
        job: Job,
        answer: CachedAnswer | Completion,
        received: Received,
        decision: Decision,
        last_wave: bool,
    ) -> bool:
        """Record a judged answer; True when it was rejected and another attempt is left."""
        job.prompt_tokens += answer.prompt_tokens or 0
        job.completion_tokens += answer.completion_tokens or 0
        job.latency_ms += answer.latency_ms or 0.0
        job.is_cached = job.is_cached and received.from_cache
        job.generated_at = received.created_at
        if decision.status == "ok":
            job.message, job.status, job.error_reason = decision.message, "ok", None
            return False
        job.status, job.error_reason = None, decision.reason
        if decision.reason in DUPLICATE_REASONS and decision.message:
            job.avoid.append(decision.message)
        if last_wave:
            job.status = "rejected"
            self.progress.rows_failed(1)
            return False
        return True
