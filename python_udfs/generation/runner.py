"""The generative step: work out which messages are missing, ask the model for them, keep the good ones.

Determinism is what makes the cache work. A row's request depends only on: the settings (provider,
model, parameters, seed), the prompt version, the campaign, the client's first name and segment,
the client's earlier ok messages in the campaign, the ok messages of the previous round from the
few clients just before it (by id), and the attempt number. Rounds run in order, each from the
finished previous one, and duplicates within a round are decided in (campaign, client) order after
every answer of a wave is in, never in arrival order. So a `--full-refresh`, or a re-run after a
crash, rebuilds exactly the same requests, finds them in the cache, and calls the model only for
what was never answered.

A row already in the table but not `ok` continues its attempt numbers on the next run: a rejected
row from the attempt after its last one (its cached answers were all rejected: replaying them would
reject it again), a failed row from the attempt that failed (nothing was cached for it). Each run
gives a row at most `max_regenerations + 1` attempts.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from python_udfs.errors import GenerationError, TooManyFailures
from python_udfs.generation.cache import DECISIONS_SCHEMA, CachedAnswer, ResponseCache
from python_udfs.generation.progress import Progress
from python_udfs.generation.prompts import (
    FEW_SHOT_EXAMPLES,
    PROMPT_VERSION,
    USES_SEGMENT,
    MessageContext,
    chat_system,
    chat_user,
    prompt_text,
    render_prompt,
    safe_name,
)
from python_udfs.generation.providers import Completion, CompletionRequest, Prompt, Provider, build_provider
from python_udfs.generation.settings import Settings
from python_udfs.generation.validation import (
    VALIDATION_VERSION,
    DuplicateGuard,
    clean_message,
    normalise,
    validate_message,
)

__all__ = [
    "OUTPUT_SCHEMA",
    "Generator",
    "Job",
    "RequestPlanner",
    "decision_checks",
    "generate_missing",
    "plan_requests",
]

OUTPUT_SCHEMA = pa.schema(
    [
        ("client_id", pa.int32()),
        ("campaign_id", pa.string()),
        ("round", pa.int32()),
        ("message", pa.string()),
        ("status", pa.string()),
        ("error_reason", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("prompt_version", pa.string()),
        ("prompt_hash", pa.string()),
        ("attempts", pa.int32()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("latency_ms", pa.float64()),
        ("is_cached", pa.bool_()),
        ("generated_at", pa.timestamp("us", tz="UTC")),
    ]
)

DEFAULT_TEMPERATURE = 0.8
# Rejections worth showing the model again: the regeneration is asked not to repeat them.
_DUPLICATE_REASONS = ("duplicate_in_round", "duplicate_of_earlier_message", "copied_example")
# Failed calls worth a new request within the run, as a regeneration (one more attempt, a new seed):
# an unreadable 200 answer. The SDK never retries those (it retries only failed HTTP exchanges), so
# this adds no second retry layer on top of its own.
_REGENERATED_ERRORS = frozenset({"bad_response"})


@dataclass
class Job:
    """One message to write, and what happened to it."""

    context: MessageContext
    seed_key: str
    temperature: float
    client_id: int | None = None
    round: int = 0
    # The attempt number this run starts from: 1, or the continuation of an earlier run's attempts.
    first_attempt: int = 1
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    is_cached: bool = True
    avoid: list[str] = field(default_factory=list)
    message: str | None = None
    status: str | None = None
    error_reason: str | None = None
    prompt_hash: str | None = None
    generated_at: datetime | None = None
    # The row's place in its round's (campaign, client) order: what the duplicate window follows.
    position: int | None = None


class _RateLimiter:
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


def decision_checks(check_duplicates: bool) -> str:
    """Which rules a stored decision was made under: only decisions made under the same are reused."""
    return f"{VALIDATION_VERSION}{'+duplicates' if check_duplicates else ''}"


class RequestPlanner:
    """How each row's request and cache key are made, for one provider, model and settings.

    The key covers the provider, model, max_tokens and prompt version (a fixed prefix), then the
    row's temperature, seed and prompt hash. The same row and attempt always give the same key,
    whether planned one at a time (`request`, `key`) or a whole round at once (`plan_rows`).
    """

    def __init__(self, settings: Settings, provider_name: str, model: str | None, style: str) -> None:
        self.settings = settings
        self.style = style
        self._prefix = json.dumps(
            {
                "provider": provider_name,
                "model": model,
                "max_tokens": settings.max_tokens,
                "prompt_version": PROMPT_VERSION,
            },
            sort_keys=True,
            ensure_ascii=False,
        )

    def seed(self, seed_key: str, attempt: int) -> int:
        # A seed per row and attempt: same-named clients get different messages, a regeneration
        # gets a new one, and the same row always sends the same request (hence the same cache key).
        digest = hashlib.sha256(f"{self.settings.seed}|{seed_key}|{attempt}".encode()).digest()
        return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF

    def request(self, job: Job, attempt: int) -> CompletionRequest:
        context = job.context
        if job.avoid:
            context = replace(context, ideas_to_avoid=(*context.ideas_to_avoid, *job.avoid[-2:]))
        seed = self.seed(job.seed_key, attempt)
        return CompletionRequest(
            prompt=render_prompt(context, self.style, variant=seed),
            temperature=job.temperature,
            max_tokens=self.settings.max_tokens,
            seed=seed,
        )

    def key(self, request: CompletionRequest) -> str:
        return self.key_for(request.temperature, request.seed, request.prompt.sha256)

    def key_for(self, temperature: float, seed: int, prompt_hash: str) -> str:
        return hashlib.sha256(
            f"{self._prefix}|{float(temperature)!r}|{seed}|{prompt_hash}".encode()
        ).hexdigest()

    def plan_rows(self, columns: dict, attempts: list[int]) -> tuple[list[str], list[str]]:
        """Cache keys and prompt hashes of a round's rows (`_round_rows` columns) at `attempts`.

        The bulk twin of `request` + `key` for rows with nothing to avoid: no objects per row, and
        for chat prompts the campaign's fixed start (system message) is hashed once, not per row.
        """
        sha256, seed_of, key_for, style = hashlib.sha256, self.seed, self.key_for, self.style
        campaigns = columns["campaigns"]
        temperatures = {
            campaign_id: _temperature(spec, self.settings) for campaign_id, spec in campaigns.items()
        }
        ideas_size = self.settings.ideas_size
        starts = {
            campaign_id: sha256(Prompt.chat_text(chat_system(spec[0] or "", spec[1] or 160), "").encode())
            for campaign_id, spec in campaigns.items()
        }
        keys, prompt_hashes = [], []
        for client_id, campaign_id, round_number, first_name, segment, earlier, ideas, attempt in zip(
            columns["client_id"],
            columns["campaign_id"],
            columns["round"],
            columns["first_name"],
            columns["segment"],
            columns["earlier_messages"],
            columns["ideas"],
            attempts,
            strict=True,
        ):
            seed = seed_of(f"{client_id}|{campaign_id}|{round_number}", attempt)
            ideas = ideas[:ideas_size] if ideas_size else ()
            if style == "completion":
                instructions, max_characters, _ = campaigns[campaign_id]
                text = prompt_text(
                    style,
                    campaign_id,
                    instructions or "",
                    max_characters or 160,
                    first_name,
                    segment,
                    earlier,
                    ideas,
                    seed,
                )
                prompt_hash = sha256(text.encode("utf-8")).hexdigest()
            else:
                user = chat_user(
                    safe_name(first_name),
                    safe_name(segment or "") if campaign_id in USES_SEGMENT else "",
                    earlier,
                    ideas,
                )
                hasher = starts[campaign_id].copy()
                hasher.update(user.encode("utf-8"))
                prompt_hash = hasher.hexdigest()
            keys.append(key_for(temperatures[campaign_id], seed, prompt_hash))
            prompt_hashes.append(prompt_hash)
        return keys, prompt_hashes


class Generator:
    """Runs jobs through cache, model, cleaning, validation and bounded regeneration."""

    def __init__(
        self, settings: Settings, provider: Provider, cache: ResponseCache, progress: Progress
    ) -> None:
        self.settings = settings
        self.provider = provider
        self.cache = cache
        self.progress = progress
        self.planner = RequestPlanner(settings, provider.name, provider.model, provider.style)
        self.model_calls = 0
        # HTTP requests sent beyond the first of each model call (the SDK's or tenacity's retries).
        self.http_retries = 0
        self._answers = 0
        self._limiter = _RateLimiter(settings.requests_per_minute) if settings.requests_per_minute else None
        self.workers = max(
            1, min(settings.max_concurrency, provider.max_parallel or settings.max_concurrency)
        )
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="llm")
        # Why calls failed, by reason: what a fail-fast summary shows.
        self._failure_reasons: Counter[str] = Counter()

    def close(self, cancel: bool = False) -> None:
        # On Ctrl-C: queued requests are dropped, the ones in flight finish into the cache.
        self._executor.shutdown(wait=not cancel, cancel_futures=cancel)

    def run(
        self,
        jobs: list[Job],
        check_duplicates: bool = True,
        guards: _RoundGuards | None = None,
    ) -> None:
        """Fill in each job's outcome. Jobs must come in a deterministic order.

        A cached answer with a decision made under the same checks is not judged again: the
        decision stands (so a replay ends exactly as the run that decided it). Every other answer,
        new or cached but undecided (a run stopped before it decided), is cleaned, validated and
        checked for duplicates against the round's accepted messages (`guards`: those of rows
        settled before this call included), and the decision is stored with it.
        """
        checks = decision_checks(check_duplicates)
        guards = guards or _RoundGuards()
        pending = [job for job in jobs if not _reject_unusable_name(job)]
        self.progress.rows_failed(len(jobs) - len(pending))
        for wave in range(self.settings.max_regenerations + 1):
            if not pending:
                break
            attempts = [job.first_attempt + wave for job in pending]
            requests = [self._request(job, attempt) for job, attempt in zip(pending, attempts, strict=True)]
            keys = [self._key(request) for request in requests]
            answers: dict[int, CachedAnswer | Completion | GenerationError] = {}
            decided: dict[int, tuple] = {}
            created: dict[int, datetime] = {}
            found = self.cache.lookup_planned(pa.table({"request_hash": pa.array(keys, pa.string())}), checks)
            for index, row in enumerate(found.to_pylist()):
                if not row["is_cached"]:
                    continue
                answers[index] = CachedAnswer(
                    row["text"],
                    row["prompt_tokens"],
                    row["completion_tokens"],
                    row["latency_ms"],
                    row["created_at"],
                )
                created[index] = row["created_at"]
                if row["decision_status"] is not None:
                    decided[index] = (
                        row["decision_status"],
                        row["decision_reason"],
                        row["decision_message"],
                        row["decision_normalised"],
                    )
            if wave == 0:
                self.progress.rows_answered(len(answers), cached=True)
            misses = {index for index in range(len(pending)) if index not in answers}
            calls = [(index, requests[index], keys[index]) for index in sorted(misses)]
            try:
                self._call_all(calls, first_wave=wave == 0, results=answers, created=created)
            except TooManyFailures:
                # The run stops here: the calls that failed still count as failed rows.
                for index, answer in answers.items():
                    if isinstance(answer, GenerationError):
                        job = pending[index]
                        job.attempts, job.is_cached = attempts[index], False
                        job.status, job.error_reason = "error", f"{answer.reason}: {answer}"
                raise
            last_wave = wave >= self.settings.max_regenerations
            # Decisions that stand go first: the new answers are then checked against every
            # message accepted in the round, whatever its place.
            if check_duplicates:
                for index, (status, _, message, normalised) in decided.items():
                    if status == "ok":
                        job = pending[index]
                        guards.add(job, message, normalised)
            outcomes: dict[int, str | None] = {}
            fresh: list[tuple] = []
            now = datetime.now(timezone.utc)
            for index, job in enumerate(pending):
                answer = answers[index]
                if isinstance(answer, GenerationError) or index in decided:
                    continue
                message = clean_message(answer.text)
                context = job.context
                reason = validate_message(message, context.first_name, context.max_characters)
                if reason is None and check_duplicates:
                    reason = guards.check(job, message)
                    if reason is None:
                        guards.add(job, message)
                outcomes[index] = reason
                fresh.append(
                    (
                        keys[index],
                        created[index],
                        checks,
                        "ok" if reason is None else "rejected",
                        reason,
                        message,
                        normalise(message, context.first_name) if reason is None else None,
                        now,
                    )
                )
            if fresh:
                self.cache.record_decisions(
                    pa.Table.from_pylist(
                        [dict(zip(DECISIONS_SCHEMA.names, row, strict=True)) for row in fresh],
                        schema=DECISIONS_SCHEMA,
                    )
                )
            retry = []
            for index, job in enumerate(pending):
                answer = answers[index]
                job.attempts = attempts[index]
                job.prompt_hash = requests[index].prompt.sha256
                if isinstance(answer, GenerationError):
                    job.is_cached = False
                    job.status, job.error_reason = "error", f"{answer.reason}: {answer}"
                    if answer.reason in _REGENERATED_ERRORS and not last_wave:
                        retry.append(job)
                    else:
                        self.progress.rows_failed(1)
                    continue
                self._account(job, answer, from_cache=index not in misses)
                if index in decided:
                    status, reason, message, _ = decided[index]
                    if status == "ok":
                        reason = None
                else:
                    reason, message = outcomes[index], clean_message(answer.text)
                if reason is None:
                    job.message, job.status, job.error_reason = message, "ok", None
                    continue
                job.status, job.error_reason = None, reason
                if reason in _DUPLICATE_REASONS and message:
                    job.avoid.append(message)
                if last_wave:
                    job.status = "rejected"
                    self.progress.rows_failed(1)
                else:
                    retry.append(job)
            pending = retry

    def _request(self, job: Job, attempt: int) -> CompletionRequest:
        return self.planner.request(job, attempt)

    def _key(self, request: CompletionRequest) -> str:
        return self.planner.key(request)

    @staticmethod
    def _account(job: Job, answer: CachedAnswer | Completion, from_cache: bool) -> None:
        job.prompt_tokens += answer.prompt_tokens or 0
        job.completion_tokens += answer.completion_tokens or 0
        job.latency_ms += answer.latency_ms or 0.0
        job.is_cached = job.is_cached and from_cache
        job.generated_at = (
            answer.created_at if isinstance(answer, CachedAnswer) else datetime.now(timezone.utc)
        )

    def _call_all(
        self,
        items: list[tuple[int, CompletionRequest, str]],
        first_wave: bool,
        results: dict,
        created: dict | None = None,
    ) -> None:
        """Send requests with at most `workers` in flight; each answer is cached as it arrives.

        Results land in `results` by index as they come, so a run stopped half-way knows what failed;
        `created` gets each answer's cache timestamp (what its decision is tied to).
        """
        created = {} if created is None else created
        inflight: dict[Future, int] = {}
        queue = iter(items)
        exhausted = False
        while inflight or not exhausted:
            while not exhausted and len(inflight) < self.workers * 2:
                item = next(queue, None)
                if item is None:
                    exhausted = True
                    break
                index, request, key = item
                inflight[self._executor.submit(self._call, request, key)] = index
            if not inflight:
                break
            finished, _ = wait(inflight, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                result, http_requests, created_at = future.result()
                index = inflight.pop(future)
                results[index] = result
                created[index] = created_at
                self.model_calls += 1
                self.http_retries += max(http_requests - 1, 0)
                if isinstance(result, GenerationError):
                    self._failure_reasons[result.reason] += 1
                else:
                    self._answers += 1
                self.progress.call_finished()
                if first_wave:
                    self.progress.rows_answered(1, cached=False)
            self._fail_fast()
            self.progress.tick()

    def _fail_fast(self) -> None:
        # A dead server or a wrong model name fails every call: stop after a handful, not after all.
        if self._answers == 0 and self.model_calls >= max(20, 2 * self.workers):
            reasons = dict(self._failure_reasons.most_common())
            detail = ", ".join(f"{reason} {count}" for reason, count in reasons.items())
            hint = (
                "Check that the model server is running and reachable at the configured URL "
                f"(OPENAI_BASE_URL or OLLAMA_HOST), that the model name ({self.provider.model}) is one "
                "it serves, and the API key."
            )
            if "rate_limited" in reasons:
                hint += " It refuses the request rate: lower max_concurrency or set requests_per_minute."
            raise TooManyFailures(
                f"the first {self.model_calls} model calls all failed ({detail}); stopping. {hint} "
                "Answers received so far are cached: fix the cause and run again to resume.",
                reasons,
            )

    def _call(
        self, request: CompletionRequest, key: str
    ) -> tuple[Completion | GenerationError, int, datetime | None]:
        """One model call: its answer (or error), how many HTTP requests it took, when it was cached."""
        if self._limiter:
            self._limiter.acquire()
        counter = getattr(self.provider, "request_counter", None)
        if counter is not None:
            counter.reset()
        try:
            completion = self.provider.complete(request)
        except GenerationError as error:
            return error, _sent(counter), None
        except Exception as error:  # one row's surprise must not end the run: it is recorded instead
            error = GenerationError(f"unexpected {type(error).__name__}", reason="unexpected")
            return error, _sent(counter), None
        created_at = datetime.now(timezone.utc)
        self.cache.put(
            key,
            provider=self.provider.name,
            model=self.provider.model,
            prompt_version=PROMPT_VERSION,
            prompt_hash=request.prompt.sha256,
            completion=completion,
            created_at=created_at,
        )
        return completion, _sent(counter), created_at


def _sent(counter) -> int:
    """HTTP requests of the call just made; 1 for a provider that does not count (one call)."""
    return counter.count if counter is not None else 1


def _reject_unusable_name(job: Job) -> bool:
    """Record a row whose name has nothing left to greet once cleaned (markup only, say): no call."""
    if safe_name(job.context.first_name):
        return False
    job.attempts, job.is_cached = job.first_attempt - 1, False
    job.status = "rejected"
    job.error_reason = "missing_first_name: nothing is left of the name once markup is removed"
    return True


class _RoundGuards:
    """The duplicate guards of one round, one per campaign, built on first use.

    `accepted` holds, per campaign, the (position, message, normalised text) of rows settled ok
    before the run (replayed decisions): a guard is seeded with them only if the round has answers
    to judge in that campaign, so a fully cached round never normalises a message.
    """

    def __init__(self, accepted: dict[str, list[tuple[int, str, str | None, str]]] | None = None) -> None:
        self._accepted = accepted or {}
        self._guards: dict[str, DuplicateGuard] = {}

    def _guard(self, campaign_id: str) -> DuplicateGuard:
        guard = self._guards.get(campaign_id)
        if guard is None:
            _, examples = FEW_SHOT_EXAMPLES.get(campaign_id, ("", ()))
            seeded = [
                (position, normalised if normalised is not None else normalise(message, first_name))
                for position, message, normalised, first_name in self._accepted.get(campaign_id, ())
            ]
            guard = self._guards[campaign_id] = DuplicateGuard(examples, accepted=seeded)
        return guard

    def check(self, job: Job, message: str) -> str | None:
        context = job.context
        return self._guard(context.campaign_id).check(
            message, context.first_name, context.earlier_messages, position=job.position
        )

    def add(self, job: Job, message: str, normalised: str | None = None) -> None:
        guard = self._guard(job.context.campaign_id)
        if normalised is None:
            guard.add(message, job.context.first_name, position=job.position)
        else:
            guard.add_normalised(normalised, position=job.position)


def _temperature(campaign: tuple, settings: Settings) -> float:
    """A campaign's temperature: the settings' if set, else the campaign's, else the default."""
    if settings.temperature is not None:
        return float(settings.temperature)
    _, _, temperature = campaign
    return DEFAULT_TEMPERATURE if temperature is None else float(temperature)


def _count_reasons(reasons) -> dict[str, int]:
    return dict(Counter(reasons).most_common())


def _as_arrow(data) -> pa.Table | None:
    """Arrow from what dbt-duckdb hands over: a relation, a record batch reader or a table."""
    if data is None or isinstance(data, pa.Table):
        return data
    if isinstance(data, duckdb.DuckDBPyRelation):
        return data.to_arrow_table()
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    return pa.table(data)


def generate_missing(
    clients,
    campaigns,
    existing=None,
    settings: Settings | dict | None = None,
    *,
    connection: duckdb.DuckDBPyConnection | None = None,
    provider: Provider | None = None,
    progress_label: str = "marketing_messages",
) -> pa.Table:
    """New rows of `marketing_messages` (OUTPUT_SCHEMA) for every missing (client, campaign, round).

    `clients` needs client_id, first_name and segment; `campaigns` the seed's columns; `existing`
    the model's current rows (None on a first run or a full refresh). Rows already `ok` are kept;
    rejected and error rows are tried again, continuing their `attempts` (a rejected row gets new
    requests instead of replaying its rejected answers from the cache); without an `attempts`
    column, or with no existing rows, a row starts at attempt 1 and replays what the cache holds.
    `connection` must have the cache attached as `llm_cache`; without it the cache is in memory.

    Each round starts with one set-based pass: every row's first request and cache key, planned in
    bulk and looked up in one query; rows whose cached answer was already decided ok are settled
    there, column-wise, without a Python object per row. Only the rest (new rows, rows whose answer
    was rejected or never decided) go through the `Generator`.
    """
    settings = settings if isinstance(settings, Settings) else Settings.from_config(settings)
    if connection is None:
        connection = duckdb.connect()
        connection.execute("attach ':memory:' as llm_cache")
    work = duckdb.connect()
    work.register("clients_in", _as_arrow(clients))
    work.register("campaigns_in", _as_arrow(campaigns))
    work.register("existing_in", _as_arrow(existing) or OUTPUT_SCHEMA.empty_table())
    total = _plan(work, settings)

    provider = provider or build_provider(settings)
    cache = ResponseCache(connection)
    progress = Progress(total, label=progress_label)
    generator = Generator(settings, provider, cache, progress)
    started = datetime.now(timezone.utc)
    jobs: list[Job] = []
    replayed: list[pa.Table] = []
    status = "failed"
    try:
        for round_number in range(1, settings.rounds + 1):
            columns = _round_rows(work, settings, round_number)
            settled, rest, accepted = _replay_decided(columns, generator.planner, cache, provider)
            replayed.append(settled)
            progress.rows_answered(settled.num_rows, cached=True)
            round_jobs = _jobs_from(columns, rest, settings, round_number)
            # Listed before the run: a run stopped half-way still counts the rows it settled.
            jobs.extend(round_jobs)
            generator.run(round_jobs, guards=_RoundGuards(accepted))
            _remember_ok(work, settled, round_jobs)
            _check_failures(jobs, settings, sum(table.num_rows for table in replayed))
        status = "completed"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        generator.close(cancel=True)
        cache.flush()
        counts = Counter(job.status for job in jobs)
        settled_rows = sum(table.num_rows for table in replayed)
        progress.summary(
            counts["ok"] + settled_rows,
            counts["rejected"],
            counts["error"],
            generator.model_calls,
            generator.http_retries,
        )
        cache.log_run(
            {
                "run_id": str(uuid.uuid4()),
                "started_at": started,
                "finished_at": datetime.now(timezone.utc),
                "status": status,
                "rows_requested": total,
                "served_from_cache": settled_rows
                + sum(job.is_cached and job.status is not None for job in jobs),
                "model_calls": generator.model_calls,
                "http_retries": generator.http_retries,
                "ok": counts["ok"] + settled_rows,
                "rejected": counts["rejected"],
                "error": counts["error"],
                "prompt_tokens": sum(job.prompt_tokens for job in jobs)
                + sum(_column_sum(table, "prompt_tokens") for table in replayed),
                "completion_tokens": sum(job.completion_tokens for job in jobs)
                + sum(_column_sum(table, "completion_tokens") for table in replayed),
                "seconds": (datetime.now(timezone.utc) - started).total_seconds(),
                "provider": provider.name,
                "model": provider.model,
            }
        )
        cache.close()
    return _combine([*replayed, _to_arrow(jobs, provider)])


def _column_sum(table: pa.Table, column: str) -> int:
    return pc.sum(table.column(column)).as_py() or 0


def _combine(tables: list[pa.Table]) -> pa.Table:
    """The run's rows in (round, campaign, client) order, as the Generator alone would list them."""
    tables = [table for table in tables if table.num_rows]
    if not tables:
        return OUTPUT_SCHEMA.empty_table()
    if len(tables) == 1:
        return tables[0]
    combined = pa.concat_tables(tables)
    return combined.sort_by(
        [("round", "ascending"), ("campaign_id", "ascending"), ("client_id", "ascending")]
    )


def plan_requests(
    clients,
    campaigns,
    settings: Settings,
    *,
    provider_name: str,
    model: str | None,
    style: str,
    round_number: int = 1,
) -> pa.Table:
    """The first requests of a round as a fresh run would plan them, without calling a model.

    One row per (client, campaign) of the round, in the run's order: client_id, campaign_id,
    round, first_name, attempt, request_hash (the cache key) and prompt_hash. What a tool that
    fills the cache ahead of a build needs (bench/prefill.py); earlier rounds count as empty.
    """
    work = duckdb.connect()
    work.register("clients_in", _as_arrow(clients))
    work.register("campaigns_in", _as_arrow(campaigns))
    work.register("existing_in", OUTPUT_SCHEMA.empty_table())
    _plan(work, settings)
    columns = _round_rows(work, settings, round_number)
    attempts = [max(int(value or 1), 1) for value in columns["first_attempt"]]
    keys, prompt_hashes = RequestPlanner(settings, provider_name, model, style).plan_rows(columns, attempts)
    return pa.table(
        {
            "client_id": pa.array(columns["client_id"], pa.int32()),
            "campaign_id": pa.array(columns["campaign_id"], pa.string()),
            "round": pa.array(columns["round"], pa.int32()),
            "first_name": pa.array(columns["first_name"], pa.string()),
            "attempt": pa.array(attempts, pa.int32()),
            "request_hash": pa.array(keys, pa.string()),
            "prompt_hash": pa.array(prompt_hashes, pa.string()),
        }
    )


_PLAN_CHUNK_ROWS = 200_000
_PLANNED_COLUMNS = ("client_id", "campaign_id", "round", "first_name", "segment", "earlier_messages", "ideas")


def _replay_decided(columns: dict, planner: RequestPlanner, cache: ResponseCache, provider: Provider):
    """Settle, column-wise, the round's rows whose first request has a cached answer decided ok.

    Returns those rows (OUTPUT_SCHEMA), the indices of the other rows, and the settled messages
    per campaign (position, message, normalised text, first name) for the duplicate guards.
    """
    count = len(columns["client_id"])
    if not count:
        return OUTPUT_SCHEMA.empty_table(), [], {}
    attempts = [max(int(value or 1), 1) for value in columns["first_attempt"]]
    prompt_hashes: list[str] = []
    lookups = []
    # In chunks: DuckDB looks one chunk up (on its own cursor, without the GIL) while Python plans
    # the next one's keys, so the two cores share the work.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-lookup") as lookup:
        for start in range(0, count, _PLAN_CHUNK_ROWS):
            stop = min(start + _PLAN_CHUNK_ROWS, count)
            chunk = {name: columns[name][start:stop] for name in _PLANNED_COLUMNS}
            chunk["campaigns"] = columns["campaigns"]
            keys, hashes = planner.plan_rows(chunk, attempts[start:stop])
            prompt_hashes.extend(hashes)
            planned = pa.table({"request_hash": pa.array(keys, pa.string())})
            lookups.append(lookup.submit(cache.lookup_planned, planned, decision_checks(True)))
        found = pa.concat_tables([future.result() for future in lookups])
    ok = pc.fill_null(pc.equal(found.column("decision_status"), "ok"), False)
    settled_count = pc.sum(ok).as_py() or 0
    if settled_count == 0:
        return OUTPUT_SCHEMA.empty_table(), list(range(count)), {}
    rest = pc.indices_nonzero(pc.invert(ok)).to_pylist()
    settled_found = found.filter(ok)
    rows = columns["arrow"]

    def take(values, arrow_type):
        if isinstance(values, str):  # a column of the round's arrow table
            return rows.column(values).filter(ok).cast(arrow_type)
        return pa.array(values, arrow_type).filter(ok)

    messages = settled_found.column("decision_message")
    settled = pa.table(
        {
            "client_id": take("client_id", pa.int32()),
            "campaign_id": take("campaign_id", pa.string()),
            "round": take("round", pa.int32()),
            "message": messages,
            "status": pa.repeat(pa.scalar("ok"), settled_count),
            "error_reason": pa.nulls(settled_count, pa.string()),
            "provider": pa.repeat(pa.scalar(provider.name, pa.string()), settled_count),
            "model": pa.repeat(pa.scalar(provider.model, pa.string()), settled_count),
            "prompt_version": pa.repeat(pa.scalar(PROMPT_VERSION), settled_count),
            "prompt_hash": take(prompt_hashes, pa.string()),
            "attempts": pc.max_element_wise(take("first_attempt", pa.int32()), 1),
            "prompt_tokens": pc.fill_null(settled_found.column("prompt_tokens"), 0),
            "completion_tokens": pc.fill_null(settled_found.column("completion_tokens"), 0),
            "latency_ms": pc.round(pc.fill_null(settled_found.column("latency_ms"), 0.0), 1),
            "is_cached": pa.repeat(pa.scalar(True), settled_count),
            "generated_at": settled_found.column("created_at"),
        }
    )
    settled = settled.cast(OUTPUT_SCHEMA)
    accepted: dict[str, list] = {}
    if rest:
        # Only a round with rows left to judge needs the settled messages (for the duplicate check).
        positions = pc.indices_nonzero(ok).to_pylist()
        for position, campaign_id, message, normalised, first_name in zip(
            positions,
            settled.column("campaign_id").to_pylist(),
            messages.to_pylist(),
            settled_found.column("decision_normalised").to_pylist(),
            [columns["first_name"][index] for index in positions],
            strict=True,
        ):
            accepted.setdefault(campaign_id, []).append((position, message, normalised, first_name))
    return settled, rest, accepted


def _plan(work: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Every (client, campaign, round) the settings ask for, and the ok messages already written."""
    client_filter = ""
    if settings.only_client_ids:
        client_filter = f"and c.client_id in ({', '.join(str(int(i)) for i in settings.only_client_ids)})"
    campaign_ids = list(settings.campaigns) if settings.campaigns else None
    segment = "c.segment" if "segment" in work.table("clients_in").columns else "null"
    work.execute(
        f"""
        create temp table targets as
        select
            cast(c.client_id as integer) as client_id,
            c.first_name,
            {segment} as segment,
            k.campaign_id,
            k.instructions,
            k.max_characters,
            k.temperature,
            cast(r.round as integer) as round
        from clients_in as c
        cross join campaigns_in as k
        cross join range(1, {int(settings.rounds) + 1}) as r (round)
        where k.kind = 'generated'
            and coalesce(k.is_active, true)
            and (cast($campaigns as varchar[]) is null or list_contains($campaigns, k.campaign_id))
            and nullif(trim(c.first_name), '') is not null
            {client_filter}
        """,
        {"campaigns": campaign_ids},
    )
    work.execute(
        """
        create temp table messages as
        select client_id, campaign_id, round, message
        from existing_in
        where status = 'ok'
        """
    )
    # Rows not ok yet continue their attempts: a rejected row after its last (rejected, cached)
    # answer, a failed row at the attempt that failed (no answer was cached for it).
    next_attempt = (
        "case when status = 'rejected' then coalesce(attempts, 0) + 1 "
        "else greatest(coalesce(attempts, 1), 1) end"
        if "attempts" in work.table("existing_in").columns
        else "1"
    )
    work.execute(
        f"""
        create temp table continued as
        select client_id, campaign_id, round, max({next_attempt}) as first_attempt
        from existing_in
        where status is distinct from 'ok'
        group by client_id, campaign_id, round
        """
    )
    return work.execute(
        """
        select count(*) from targets as t
        anti join messages as m using (client_id, campaign_id, round)
        """
    ).fetchone()[0]


def _round_rows(work: duckdb.DuckDBPyConnection, settings: Settings, round_number: int) -> dict:
    """The round's missing rows with their context, in (campaign, client) order, as columns."""
    rows = work.execute(
        f"""
        with

        todo as (
            select t.*
            from targets as t
            anti join messages as m using (client_id, campaign_id, round)
            where t.round = {round_number}
        ),

        history as (
            select client_id, campaign_id, list(message order by round desc) as earlier_messages
            from messages
            where round < {round_number}
            group by client_id, campaign_id
        ),

        -- Recent ideas: the previous round's messages of the few clients just before this one.
        previous as (
            select
                campaign_id,
                client_id,
                list(message) over (
                    partition by campaign_id order by client_id
                    rows between {max(settings.ideas_size - 1, 0)} preceding and current row
                ) as ideas
            from messages
            where round = {round_number - 1}
        )

        select
            todo.client_id,
            todo.first_name,
            todo.segment,
            todo.campaign_id,
            todo.round,
            coalesce(history.earlier_messages[1:{settings.history_size}], []) as earlier_messages,
            coalesce(previous.ideas, []) as ideas,
            coalesce(continued.first_attempt, 1) as first_attempt
        from todo
        left join history using (client_id, campaign_id)
        left join continued using (client_id, campaign_id, round)
        asof left join previous
            on todo.campaign_id = previous.campaign_id and todo.client_id > previous.client_id
        order by todo.campaign_id, todo.client_id
        """
    ).to_arrow_table()
    return _columns(rows, work)


def _columns(rows: pa.Table, work: duckdb.DuckDBPyConnection) -> dict:
    """Python columns of a round, lean enough for millions of rows.

    A campaign's instructions, length and temperature are per campaign (`campaigns`), not per
    row; campaign ids share one string each; an all-empty list column (every first round) is one
    shared empty tuple repeated, not millions of empty lists.
    """
    columns: dict = {}
    for name in rows.column_names:
        column = rows.column(name)
        if pa.types.is_list(column.type) and not (pc.max(pc.list_value_length(column)).as_py() or 0):
            columns[name] = [()] * rows.num_rows
        elif name == "campaign_id":
            encoded = pc.dictionary_encode(column).combine_chunks()
            names = encoded.dictionary.to_pylist()
            columns[name] = [names[index] for index in encoded.indices.to_pylist()]
        else:
            columns[name] = column.to_pylist()
    columns["arrow"] = rows
    columns["campaigns"] = {
        campaign_id: (instructions, max_characters, temperature)
        for campaign_id, instructions, max_characters, temperature in work.execute(
            "select distinct campaign_id, instructions, max_characters, temperature from targets"
        ).fetchall()
    }
    return columns


def _jobs_from(columns: dict, indices: list[int], settings: Settings, round_number: int) -> list[Job]:
    """Jobs for the rows at `indices` (positions in the round's order) of `_round_rows`' columns."""
    jobs = []
    for index in indices:
        campaign_id = columns["campaign_id"][index]
        instructions, max_characters, _ = campaign = columns["campaigns"][campaign_id]
        context = MessageContext(
            campaign_id=campaign_id,
            instructions=instructions or "",
            max_characters=max_characters or 160,
            first_name=columns["first_name"][index],
            segment=columns["segment"][index],
            earlier_messages=tuple(columns["earlier_messages"][index]),
            ideas_to_avoid=tuple(
                columns["ideas"][index][: settings.ideas_size] if settings.ideas_size else ()
            ),
        )
        client_id = columns["client_id"][index]
        jobs.append(
            Job(
                context=context,
                seed_key=f"{client_id}|{campaign_id}|{round_number}",
                temperature=_temperature(campaign, settings),
                client_id=client_id,
                round=round_number,
                first_attempt=max(int(columns["first_attempt"][index] or 1), 1),
                position=index,
            )
        )
    return jobs


def _remember_ok(work: duckdb.DuckDBPyConnection, settled: pa.Table, jobs: list[Job]) -> None:
    """Add the round's ok messages to the context the next round reads."""
    ok = [job for job in jobs if job.status == "ok"]
    if settled.num_rows:
        work.register("settled_ok", settled.select(["client_id", "campaign_id", "round", "message"]))
        work.execute("insert into messages select * from settled_ok")
        work.unregister("settled_ok")
    if not ok:
        return
    new = pa.table(
        {
            "client_id": pa.array([job.client_id for job in ok], pa.int32()),
            "campaign_id": [job.context.campaign_id for job in ok],
            "round": pa.array([job.round for job in ok], pa.int32()),
            "message": [job.message for job in ok],
        }
    )
    work.register("new_ok", new)
    work.execute("insert into messages select * from new_ok")
    work.unregister("new_ok")


def _check_failures(jobs: list[Job], settings: Settings, settled: int = 0) -> None:
    failed = [job for job in jobs if job.status != "ok"]
    total = len(jobs) + settled
    if total and len(failed) / total > settings.max_failure_share:
        reasons = _count_reasons((job.error_reason or "unfinished").split(":")[0] for job in failed)
        detail = ", ".join(f"{reason} {count}" for reason, count in reasons.items())
        raise TooManyFailures(
            f"{len(failed)} of {total} messages failed (more than {settings.max_failure_share:.0%}): "
            f"{detail}. Answers received so far are cached: fix the cause and run again to resume.",
            reasons,
        )


def _to_arrow(jobs: list[Job], provider: Provider) -> pa.Table:
    return pa.table(
        {
            "client_id": [job.client_id for job in jobs],
            "campaign_id": [job.context.campaign_id for job in jobs],
            "round": [job.round for job in jobs],
            "message": [job.message for job in jobs],
            "status": [job.status for job in jobs],
            "error_reason": [job.error_reason for job in jobs],
            "provider": [provider.name] * len(jobs),
            "model": [provider.model] * len(jobs),
            "prompt_version": [PROMPT_VERSION] * len(jobs),
            "prompt_hash": [job.prompt_hash for job in jobs],
            "attempts": [job.attempts for job in jobs],
            "prompt_tokens": [job.prompt_tokens for job in jobs],
            "completion_tokens": [job.completion_tokens for job in jobs],
            "latency_ms": [round(job.latency_ms, 1) for job in jobs],
            "is_cached": [job.is_cached for job in jobs],
            "generated_at": [job.generated_at for job in jobs],
        },
        schema=OUTPUT_SCHEMA,
    )
