"""Fill the response cache with an answer for every message a build will ask for, without a model.

The scale benchmark measures `dbt build` with every message already cached. The keys come from
the generation's own planning (`RunPlan` and `RequestKeys.first_requests`: the same SQL, prompt
rendering and key hashing the build's bulk replay uses) and the rows are written in bulk into the
tables `ResponseCache` creates, with `record_decisions`: the build then finds every request and its
decision and makes zero model calls, which the loopback server's counter confirms.

Answers are the loopback server's own messages, made unique past its 623,645 distinct ones by a
closing that changes every 623,645 messages; any that would fail validation or come too close to a
prompt's few-shot examples is skipped. So none is rejected as a duplicate and regenerated.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from python_udfs.generation.cache import RESPONSES_SCHEMA, ResponseCache
from python_udfs.generation.judging import decision_checks
from python_udfs.generation.keys import RequestKeys
from python_udfs.generation.planning import RunPlan
from python_udfs.generation.prompts import FEW_SHOT_EXAMPLES, PROMPT_VERSION
from python_udfs.generation.settings import Settings
from python_udfs.generation.validation import DuplicateGuard, clean_message, normalise, validate_message
from testkit.llm_server import DISTINCT_MESSAGES, portuguese_message

__all__ = ["campaigns_table", "plan_first_requests", "prefill_cache"]

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


def plan_first_requests(
    clients, campaigns, settings: Settings, *, provider_name: str, model: str | None, style: str, offers=None
) -> pa.Table:
    """The first round's requests as a fresh build plans them, without calling a model.

    One row per (client, campaign), in the build's order: client_id, campaign_id, round,
    first_name, attempt, request_hash (the cache key) and prompt_hash. `offers` must be what the
    build reads (the campaign_offers model), or the keys are those of prompts without offers.
    """
    plan = RunPlan(clients, campaigns, None, settings, offers)
    try:
        round_ = plan.round(1)
        keyed = RequestKeys(settings, provider_name, model, style).first_requests(round_).to_arrow_table()
        table = round_.arrow()
    finally:
        plan.close()
    return pa.table(
        {
            "client_id": table.column("client_id").cast(pa.int32()),
            "campaign_id": table.column("campaign_id").cast(pa.string()),
            "round": pa.repeat(pa.scalar(1, pa.int32()), table.num_rows),
            "first_name": table.column("first_name").cast(pa.string()),
            "attempt": table.column("first_attempt").cast(pa.int32()),
            "request_hash": keyed.column("request_hash"),
            "prompt_hash": keyed.column("prompt_hash"),
        }
    )


def prefill_cache(
    cache_file: Path,
    clients: pa.Table,
    campaigns: pa.Table,
    settings: Settings,
    *,
    style: str = "chat",
    offers: pa.Table | None = None,
    checked_every: int = 1,
) -> pa.Table:
    """Cache an answer for every round-1 message, and the runner's decision on it (accepted), as a
    first run would have left them; returns the messages as `marketing_messages` rows.

    Every answer is checked as the runner checks a new one (cleaning, validation, the few-shot
    examples; neighbours differ by construction), so the recorded decisions are the ones it makes.
    Checking costs about 180 µs an answer, an hour for 20M: `checked_every=k` checks one answer in
    k and records the others as ok with no folded form (the runner folds one when it needs it).
    The unchecked answers are the same server templates as the checked ones, and the build's data
    tests still check every message it writes.
    """
    planned = plan_first_requests(
        clients,
        campaigns,
        settings,
        provider_name=settings.provider,
        model=settings.model_name,
        style=style,
        offers=offers,
    )
    max_characters = {
        row["campaign_id"]: row["max_characters"] or 160
        for row in campaigns.select(["campaign_id", "max_characters"]).to_pylist()
    }
    texts, normalised = [], []
    next_index: dict[str, int] = {}
    # Only the examples are checked (nothing is added): neighbours differ by construction.
    example_guards: dict[str, DuplicateGuard] = {}
    columns = planned.select(["campaign_id", "first_name"]).to_pydict()
    for row, (campaign, name) in enumerate(zip(columns["campaign_id"], columns["first_name"], strict=True)):
        if row % checked_every:
            index = next_index.get(campaign, 0)
            next_index[campaign] = index + 1
            texts.append(unique_message(name, index))
            normalised.append(None)
            continue
        guard = example_guards.get(campaign)
        if guard is None:
            guard = example_guards[campaign] = DuplicateGuard(FEW_SHOT_EXAMPLES.get(campaign, ("", ()))[1])
        index = next_index.get(campaign, 0)
        while True:
            text = unique_message(name, index)
            folded = normalise(text, name)
            if (
                validate_message(clean_message(text), name, max_characters[campaign]) is None
                and guard.check_normalised(folded) is None
            ):
                break
            index += 1
        next_index[campaign] = index + 1
        texts.append(text)
        normalised.append(folded)

    count = planned.num_rows
    created_at = pa.array([datetime.now(timezone.utc)] * count, pa.timestamp("us", tz="UTC"))
    answers = pa.table(
        {
            "request_hash": planned.column("request_hash"),
            "provider": pa.repeat(pa.scalar(settings.provider), count),
            "model": pa.repeat(pa.scalar(settings.model_name, pa.string()), count),
            "prompt_version": pa.repeat(pa.scalar(PROMPT_VERSION), count),
            "prompt_hash": planned.column("prompt_hash"),
            "text": pa.array(texts, pa.string()),
            "prompt_tokens": pa.repeat(pa.scalar(0, pa.int64()), count),
            "completion_tokens": pa.repeat(pa.scalar(0, pa.int64()), count),
            "latency_ms": pa.repeat(pa.scalar(0.0), count),
            "created_at": created_at,
        }
    )
    decisions = pa.table(
        {
            "request_hash": planned.column("request_hash"),
            "answer_created_at": created_at,
            "checks": pa.repeat(pa.scalar(decision_checks(True)), count),
            "status": pa.repeat(pa.scalar("ok"), count),
            "reason": pa.nulls(count, pa.string()),
            "message": pa.array(texts, pa.string()),
            "normalised": pa.array(normalised, pa.string()),
            "decided_at": created_at,
        }
    )
    with duckdb.connect() as connection:
        connection.execute(f"attach '{cache_file}' as llm_cache")
        cache = ResponseCache(connection)  # creates the tables exactly as the build expects them
        connection.register("prefilled", answers.cast(RESPONSES_SCHEMA))
        connection.execute("insert into llm_cache.main.responses by name select * from prefilled")
        cache.record_decisions(decisions)
        cache.close()
    return pa.table(
        {
            "client_id": planned.column("client_id"),
            "campaign_id": planned.column("campaign_id"),
            "round": planned.column("round"),
            "message": pa.array(texts, pa.string()),
            "status": pa.repeat(pa.scalar("ok"), count),
        }
    )
