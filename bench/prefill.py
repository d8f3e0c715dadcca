"""Fill the response cache with an answer for every message a build will ask for, without a model.

The scale benchmark measures `dbt build` with every message already cached. The keys come from
the generation's own planning (`RunPlan` and `RequestKeys.first_requests`: the same SQL, prompt
rendering and key hashing the build's bulk replay uses) and the rows are written in bulk into the
tables `ResponseCache` creates, with `record_decisions`: the build then finds every request and its
decision and makes zero model calls, which the loopback server's counter confirms. The planned
rows stream out of DuckDB in batches, so ten million clients fit in a few GB.

Answers are the loopback server's own messages, made unique past its 623,645 distinct ones by a
closing that changes every 623,645 messages; any that would fail validation or come too close to a
prompt's few-shot examples is skipped. So none is rejected as a duplicate and regenerated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from python_udfs.generation.cache import RESPONSES_SCHEMA, ResponseCache
from python_udfs.generation.judging import decision_checks
from python_udfs.generation.keys import ROUND_KEYS_TABLE, RequestKeys
from python_udfs.generation.planning import RunPlan
from python_udfs.generation.prompts import FEW_SHOT_EXAMPLES, PROMPT_VERSION
from python_udfs.generation.settings import Settings
from python_udfs.generation.validation import DuplicateGuard, clean_message, normalise, validate_message
from testkit.llm_server import DISTINCT_MESSAGES, portuguese_message

__all__ = ["MESSAGES_SCHEMA", "Prefilled", "campaigns_table", "prefill_cache"]

_CLOSINGS = (
    "", " Boas festas!", " Feliz Natal!", " Aproveite!", " Conte com a gente!", " Até breve!",
    " Um abraço!", " Com carinho!", " Boas compras!", " Bom fim de ano!", " Vale a pena!",
    " Fica a dica!", " Não perca!", " Corra!", " Só hoje!", " Com amor!", " Bom proveito!",
    " Ótimas festas!", " Muita alegria!", " Até logo!",
)  # fmt: skip

CAMPAIGNS_SQL = """
select
    trim(campaign_id) as campaign_id,
    lower(trim(kind)) as kind,
    nullif(trim(template), '') as template,
    nullif(trim(instructions), '') as instructions,
    max_characters,
    trim(language) as language,
    temperature,
    coalesce(is_active, false) as is_active
from read_csv(?, header = true, columns = {
    'campaign_id': 'varchar', 'kind': 'varchar', 'template': 'varchar', 'instructions': 'varchar',
    'max_characters': 'integer', 'language': 'varchar', 'temperature': 'double', 'is_active': 'boolean'
})
"""


def campaigns_table(seed_csv: Path) -> pa.Table:
    """The campaigns seed shaped as `stg_marketing__campaigns` shapes it."""
    with duckdb.connect() as connection:
        return connection.execute(CAMPAIGNS_SQL, [str(seed_csv)]).to_arrow_table()


def unique_message(first_name: str, index: int) -> str:
    """The index-th message of a campaign: the server's wording, with a closing past its range."""
    block = index // DISTINCT_MESSAGES
    if block >= len(_CLOSINGS):
        raise ValueError(f"at most {len(_CLOSINGS) * DISTINCT_MESSAGES:,} distinct messages per campaign")
    return portuguese_message(first_name, index) + _CLOSINGS[block]


# What the plain-SQL comparison reads: the messages as `marketing_messages` rows.
MESSAGES_SCHEMA = pa.schema(
    [
        ("client_id", pa.int32()),
        ("campaign_id", pa.string()),
        ("round", pa.int32()),
        ("message", pa.string()),
        ("status", pa.string()),
    ]
)
# Planned rows answered per batch.
_BATCH_ROWS = 250_000


@dataclass(frozen=True)
class Prefilled:
    """What `prefill_cache` cached: answers (one per message) and the campaigns they cover."""

    messages: int
    campaigns: int


@dataclass
class _Answers:
    """Writes each campaign's next unique message, checking one in `checked_every` as the runner would."""

    max_characters: dict[str, int]
    checked_every: int
    next_index: dict[str, int] = field(default_factory=dict)
    # Only the examples are checked (nothing is added): neighbours differ by construction.
    example_guards: dict[str, DuplicateGuard] = field(default_factory=dict)
    written: int = 0

    def batch(self, campaign_ids: list[str], names: list[str]) -> tuple[list[str], list[str | None]]:
        texts: list[str] = []
        folded: list[str | None] = []
        for campaign, name in zip(campaign_ids, names, strict=True):
            index = self.next_index.get(campaign, 0)
            if self.written % self.checked_every:
                text, normalised = unique_message(name, index), None
            else:
                text, normalised, index = self._checked(campaign, name, index)
            self.next_index[campaign] = index + 1
            self.written += 1
            texts.append(text)
            folded.append(normalised)
        return texts, folded

    def _checked(self, campaign: str, name: str, index: int) -> tuple[str, str, int]:
        """The first message from `index` on that passes the runner's checks, and its index."""
        guard = self.example_guards.get(campaign)
        if guard is None:
            examples = FEW_SHOT_EXAMPLES.get(campaign, ("", ()))[1]
            guard = self.example_guards[campaign] = DuplicateGuard(examples)
        while True:
            text = unique_message(name, index)
            folded = normalise(text, name)
            if (
                validate_message(clean_message(text), name, self.max_characters[campaign]) is None
                and guard.check_normalised(folded) is None
            ):
                return text, folded, index
            index += 1


def prefill_cache(
    cache_file: Path,
    clients: pa.Table,
    campaigns: pa.Table,
    settings: Settings,
    *,
    messages_path: Path,
    style: str = "chat",
    offers: pa.Table | None = None,
    checked_every: int = 1,
    memory_limit: str = "4GB",
) -> Prefilled:
    """Cache an answer for every round-1 message, and the runner's decision on it (accepted), as a
    first run would have left them; writes the messages as `marketing_messages` rows (Parquet,
    MESSAGES_SCHEMA) to `messages_path`.

    Every answer is checked as the runner checks a new one (cleaning, validation, the few-shot
    examples; neighbours differ by construction), so the recorded decisions are the ones it makes.
    Checking costs about 180 µs an answer, an hour for 20M: `checked_every=k` checks one answer in
    k and records the others as ok with no folded form (the runner folds one when it needs it).
    The unchecked answers are the same server templates as the checked ones, and the build's data
    tests still check every message it writes.
    """
    answers = _Answers(
        {
            row["campaign_id"]: row["max_characters"] or 160
            for row in campaigns.select(["campaign_id", "max_characters"]).to_pylist()
        },
        checked_every,
    )
    keys = RequestKeys(settings, settings.provider, settings.model_name, style)
    campaign_ids: set[str] = set()
    with duckdb.connect(config={"memory_limit": memory_limit}) as connection:
        connection.execute(f"attach '{cache_file}' as llm_cache")
        cache = ResponseCache(connection)  # creates the tables exactly as the build expects them
        plan = RunPlan(clients, campaigns, None, settings, offers, connection=connection)
        round_ = plan.round(1)
        keys.first_requests(round_)
        planned = connection.execute(
            f"""
            select r.client_id, r.campaign_id, r.first_name, k.request_hash, k.prompt_hash
            from {round_.table_name} as r
            inner join {ROUND_KEYS_TABLE} as k using (position)
            order by r.position
            """
        ).fetch_record_batch(_BATCH_ROWS)
        # The planned rows stream from `connection`; the answers go in through cursors of their own.
        writer = connection.cursor()
        with pq.ParquetWriter(messages_path, MESSAGES_SCHEMA) as parquet:
            for batch in planned:
                columns = batch.to_pydict()
                texts, folded = answers.batch(columns["campaign_id"], columns["first_name"])
                _store(writer, cache, batch, texts, folded, settings)
                parquet.write_table(_messages(batch, texts))
                campaign_ids.update(columns["campaign_id"])
        writer.close()
        cache.close()
        plan.close()
    return Prefilled(answers.written, len(campaign_ids))


def _store(writer, cache: ResponseCache, batch: pa.RecordBatch, texts, folded, settings: Settings) -> None:
    """One batch's answers and their (ok) decisions, written to the cache."""
    count = batch.num_rows
    created_at = pa.array([datetime.now(timezone.utc)] * count, pa.timestamp("us", tz="UTC"))
    request_hash = batch.column("request_hash")
    answers = pa.table(
        {
            "request_hash": request_hash,
            "provider": pa.repeat(pa.scalar(settings.provider), count),
            "model": pa.repeat(pa.scalar(settings.model_name, pa.string()), count),
            "prompt_version": pa.repeat(pa.scalar(PROMPT_VERSION), count),
            "prompt_hash": batch.column("prompt_hash"),
            "text": pa.array(texts, pa.string()),
            "prompt_tokens": pa.repeat(pa.scalar(0, pa.int64()), count),
            "completion_tokens": pa.repeat(pa.scalar(0, pa.int64()), count),
            "latency_ms": pa.repeat(pa.scalar(0.0), count),
            "created_at": created_at,
        }
    )
    writer.register("prefilled", answers.cast(RESPONSES_SCHEMA))
    writer.execute("insert into llm_cache.main.responses by name select * from prefilled")
    writer.unregister("prefilled")
    cache.record_decisions(
        pa.table(
            {
                "request_hash": request_hash,
                "answer_created_at": created_at,
                "checks": pa.repeat(pa.scalar(decision_checks(True)), count),
                "status": pa.repeat(pa.scalar("ok"), count),
                "reason": pa.nulls(count, pa.string()),
                "message": pa.array(texts, pa.string()),
                "normalised": pa.array(folded, pa.string()),
                "decided_at": created_at,
            }
        )
    )


def _messages(batch: pa.RecordBatch, texts: list[str]) -> pa.Table:
    count = batch.num_rows
    return pa.table(
        {
            "client_id": batch.column("client_id").cast(pa.int32()),
            "campaign_id": batch.column("campaign_id").cast(pa.string()),
            "round": pa.repeat(pa.scalar(1, pa.int32()), count),
            "message": pa.array(texts, pa.string()),
            "status": pa.repeat(pa.scalar("ok"), count),
        },
        schema=MESSAGES_SCHEMA,
    )
