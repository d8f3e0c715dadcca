"""Judging answers: clean and validate them, reject near-duplicates, store and reuse decisions.

Duplicates within a round are decided in the round's (campaign, client) order once every answer of
a wave is in, never in arrival order, so a re-run decides exactly as the run before it. A decision
is stored with the answer it judged and the rules that judged it (`decision_checks`): a replay
that finds both trusts the decision instead of judging again.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa

from python_udfs.errors import GenerationError
from python_udfs.generation.cache import DECISIONS_SCHEMA
from python_udfs.generation.prompts import FEW_SHOT_EXAMPLES, safe_name
from python_udfs.generation.records import AcceptedMessage, Decision, Job, Received
from python_udfs.generation.validation import (
    VALIDATION_VERSION,
    DuplicateGuard,
    clean_message,
    normalise,
    validate_message,
)

__all__ = [
    "DUPLICATE_REASONS",
    "RoundGuards",
    "decision_checks",
    "decisions_table",
    "judge_wave",
    "reject_unusable_name",
]

# Rejections worth showing the model again: the regeneration is asked not to repeat them.
DUPLICATE_REASONS = frozenset({"duplicate_in_round", "duplicate_of_earlier_message", "copied_example"})


def decision_checks(check_duplicates: bool) -> str:
    """Which rules a stored decision was made under: only decisions made under the same are reused."""
    return f"{VALIDATION_VERSION}{'+duplicates' if check_duplicates else ''}"


def reject_unusable_name(job: Job) -> bool:
    """Record a row whose name has nothing left to greet once cleaned (markup only, say): no call."""
    if safe_name(job.row.context.first_name):
        return False
    job.attempts, job.is_cached = job.row.first_attempt - 1, False
    job.status = "rejected"
    job.error_reason = "missing_first_name: nothing is left of the name once markup is removed"
    return True


class RoundGuards:
    """The duplicate guards of one round, one per campaign, built on first use.

    `accepted` holds, per campaign, the messages settled ok before the judging starts (replayed
    decisions): a guard is seeded with them only if the round has answers to judge in that
    campaign, so a fully cached round never normalises a message.
    """

    def __init__(self, accepted: dict[str, list[AcceptedMessage]] | None = None) -> None:
        self._accepted = accepted or {}
        self._guards: dict[str, DuplicateGuard] = {}

    def check(self, job: Job, message: str) -> str | None:
        context = job.row.context
        return self._guard(context.campaign_id).check(
            message,
            context.first_name,
            context.earlier_messages,
            position=job.row.position,
            # Clients offered the same catalogue product get close messages by design.
            in_round=not context.offer,
        )

    def add(self, job: Job, message: str, normalised: str | None = None) -> None:
        guard = self._guard(job.row.context.campaign_id)
        if normalised is None:
            guard.add(message, job.row.context.first_name, position=job.row.position)
        else:
            guard.add_normalised(normalised, position=job.row.position)

    def _guard(self, campaign_id: str) -> DuplicateGuard:
        guard = self._guards.get(campaign_id)
        if guard is None:
            _, examples = FEW_SHOT_EXAMPLES.get(campaign_id, ("", ()))
            seeded = [
                (
                    accepted.position,
                    accepted.normalised
                    if accepted.normalised is not None
                    else normalise(accepted.message, accepted.first_name),
                )
                for accepted in self._accepted.get(campaign_id, ())
            ]
            guard = self._guards[campaign_id] = DuplicateGuard(examples, accepted=seeded)
        return guard


def judge_wave(
    jobs: list[Job], received: list[Received], guards: RoundGuards, check_duplicates: bool
) -> tuple[dict[int, Decision], dict[int, Decision]]:
    """A decision for every answer of a wave, by index (failed calls have none).

    Stored decisions stand, and their ok messages join the guards first: the new answers are then
    judged in the jobs' order against every message accepted in the round, whatever its place.
    Returns every decision, and the new ones apart (to store).
    """
    if check_duplicates:
        for job, answer in zip(jobs, received, strict=True):
            if answer.decision is not None and answer.decision.status == "ok":
                guards.add(job, answer.decision.message or "", answer.decision.normalised)
    decisions: dict[int, Decision] = {}
    fresh: dict[int, Decision] = {}
    for index, (job, answer) in enumerate(zip(jobs, received, strict=True)):
        if isinstance(answer.answer, GenerationError):
            continue
        if answer.decision is not None:
            decisions[index] = answer.decision
        else:
            decisions[index] = fresh[index] = _judge(job, answer.answer.text, guards, check_duplicates)
    return decisions, fresh


def _judge(job: Job, text: str | None, guards: RoundGuards, check_duplicates: bool) -> Decision:
    context = job.row.context
    message = clean_message(text)
    reason = validate_message(message, context.first_name, context.max_characters, context.offer)
    if reason is None and check_duplicates:
        reason = guards.check(job, message)
        if reason is None:
            guards.add(job, message)
    if reason is not None:
        return Decision("rejected", reason, message)
    return Decision("ok", None, message, normalise(message, context.first_name))


def decisions_table(keys: list[str], received: list[Received], decisions: list[Decision], checks: str):
    """New decisions as DECISIONS_SCHEMA rows, each tied to the answer it judged."""
    decided_at = datetime.now(timezone.utc)
    return pa.table(
        {
            "request_hash": keys,
            "answer_created_at": [answer.created_at for answer in received],
            "checks": [checks] * len(keys),
            "status": [decision.status for decision in decisions],
            "reason": [decision.reason for decision in decisions],
            "message": [decision.message for decision in decisions],
            "normalised": [decision.normalised for decision in decisions],
            "decided_at": [decided_at] * len(keys),
        },
        schema=DECISIONS_SCHEMA,
    )
