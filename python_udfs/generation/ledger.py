"""What a run did: calls and retries as they happen, outcomes per row, and the generation_log row."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from python_udfs.errors import GenerationError, TooManyFailures
from python_udfs.generation.records import CallResult, Job
from python_udfs.generation.replay import Replay

__all__ = ["CallCounts", "GenerationLogRow", "RunLedger"]


@dataclass
class CallCounts:
    """Model calls made, HTTP retries inside them, answers received and why the others failed."""

    model_calls: int = 0
    # HTTP requests sent beyond the first of each model call (the SDK's or tenacity's retries).
    http_retries: int = 0
    answers: int = 0
    failure_reasons: Counter[str] = field(default_factory=Counter)

    def record(self, result: CallResult) -> None:
        self.model_calls += 1
        self.http_retries += max(result.http_requests - 1, 0)
        if isinstance(result.answer, GenerationError):
            self.failure_reasons[result.answer.reason] += 1
        else:
            self.answers += 1


@dataclass(frozen=True)
class GenerationLogRow:
    """One row of `llm_cache.main.generation_log`: what `generation_runs` shows per run."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    status: str
    rows_requested: int
    served_from_cache: int
    model_calls: int
    http_retries: int
    ok: int
    rejected: int
    error: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    provider: str
    model: str


@dataclass
class RunLedger:
    """The rows a run settled: replayed from stored decisions (counted) or run as jobs."""

    rows_requested: int
    provider: str
    model: str
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    jobs: list[Job] = field(default_factory=list)
    replayed_rows: int = 0
    replayed_prompt_tokens: int = 0
    replayed_completion_tokens: int = 0

    def add_round(self, replayed: Replay, jobs: list[Job]) -> None:
        # Listed before the jobs run: a run stopped half-way still counts the rows it settled.
        self.replayed_rows += replayed.settled
        self.replayed_prompt_tokens += replayed.prompt_tokens
        self.replayed_completion_tokens += replayed.completion_tokens
        self.jobs.extend(jobs)

    def statuses(self) -> Counter[str | None]:
        """Rows by status: replayed rows are all ok; a job stopped before an outcome counts as None."""
        counts = Counter(job.status for job in self.jobs)
        counts["ok"] += self.replayed_rows
        return counts

    def check_failure_share(self, max_share: float) -> None:
        """Fail the run, with a summary by reason, when more than `max_share` of its rows failed."""
        failed = [job for job in self.jobs if job.status != "ok"]
        total = len(self.jobs) + self.replayed_rows
        if not total or len(failed) / total <= max_share:
            return
        reasons = dict(
            Counter((job.error_reason or "unfinished").split(":")[0] for job in failed).most_common()
        )
        detail = ", ".join(f"{reason} {count}" for reason, count in reasons.items())
        raise TooManyFailures(
            f"{len(failed)} of {total} messages failed (more than {max_share:.0%}): {detail}. "
            "Answers received so far are cached: fix the cause and run again to resume.",
            reasons,
        )

    def log_row(self, status: str, counts: CallCounts) -> GenerationLogRow:
        statuses = self.statuses()
        finished_at = datetime.now(timezone.utc)
        return GenerationLogRow(
            run_id=str(uuid.uuid4()),
            started_at=self.started_at,
            finished_at=finished_at,
            status=status,
            rows_requested=self.rows_requested,
            served_from_cache=self.replayed_rows
            + sum(job.is_cached and job.status is not None for job in self.jobs),
            model_calls=counts.model_calls,
            http_retries=counts.http_retries,
            ok=statuses["ok"],
            rejected=statuses["rejected"],
            error=statuses["error"],
            prompt_tokens=sum(job.prompt_tokens for job in self.jobs) + self.replayed_prompt_tokens,
            completion_tokens=sum(job.completion_tokens for job in self.jobs)
            + self.replayed_completion_tokens,
            seconds=(finished_at - self.started_at).total_seconds(),
            provider=self.provider,
            model=self.model,
        )
