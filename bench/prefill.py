"""Fill the response cache with an answer for every message a build will ask for, without a model.

The scale benchmark measures `dbt build` with every message already cached. The keys come from
the runner itself (the same planning, prompt rendering and key hashing the build uses) and the rows
are written with one bulk insert into the cache table the cache module creates: the build then
finds every request and makes zero model calls, which the loopback server's counter confirms.

Answers are the loopback server's own messages, made unique past its 60,605 distinct ones by a
closing that changes every 60,605 messages; the few that come too close to a prompt's few-shot
examples are skipped. So none is rejected as a duplicate and regenerated.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from python_udfs.generation import runner
from python_udfs.generation.cache import ResponseCache
from python_udfs.generation.prompts import FEW_SHOT_EXAMPLES, PROMPT_VERSION
from python_udfs.generation.settings import Settings
from python_udfs.generation.validation import DuplicateGuard
from testkit.llm_server import portuguese_message

__all__ = ["campaigns_table", "prefill_cache"]

SERVER_DISTINCT_MESSAGES = 31 * 23 * 17 * 5
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


class _KeyOnlyProvider:
    """Stands in for the configured provider when only its name, model and style shape the keys."""

    max_parallel = 1

    def __init__(self, name: str, model: str, style: str) -> None:
        self.name, self.model, self.style = name, model, style

    def complete(self, request):
        raise AssertionError("prefill never calls a model")


def campaigns_table(seed_csv: Path) -> pa.Table:
    """The campaigns seed shaped as `stg_campaigns` shapes it."""
    with duckdb.connect() as connection:
        return connection.execute(CAMPAIGNS_SQL, [str(seed_csv)]).to_arrow_table()


def unique_message(first_name: str, index: int) -> str:
    """The index-th message of a campaign: the server's wording, with a closing past its range."""
    block = index // SERVER_DISTINCT_MESSAGES
    if block >= len(_CLOSINGS):
        raise ValueError(
            f"at most {len(_CLOSINGS) * SERVER_DISTINCT_MESSAGES:,} distinct messages per campaign"
        )
    return portuguese_message(first_name, index) + _CLOSINGS[block]


def prefill_cache(
    cache_file: Path, clients: pa.Table, campaigns: pa.Table, settings: Settings, *, style: str = "chat"
) -> pa.Table:
    """Cache an answer for every round-1 message; returns the messages as `marketing_messages` rows."""
    work = duckdb.connect()
    work.register("clients_in", clients)
    work.register("campaigns_in", campaigns)
    work.register("existing_in", runner.OUTPUT_SCHEMA.empty_table())
    runner._plan(work, settings)
    jobs = runner._round_jobs(work, settings, 1)

    provider = _KeyOnlyProvider(settings.provider, settings.model_name, style)
    generator = runner.Generator(settings, provider, cache=None, progress=None)
    generator.close()
    keys, prompt_hashes, texts = [], [], []
    next_index: dict[str, int] = {}
    # Only the examples are checked (nothing is added): neighbours differ by construction.
    example_guards: dict[str, DuplicateGuard] = {}
    for job in jobs:
        campaign, name = job.context.campaign_id, job.context.first_name
        guard = example_guards.setdefault(
            campaign, DuplicateGuard(FEW_SHOT_EXAMPLES.get(campaign, ("", ()))[1])
        )
        index = next_index.get(campaign, 0)
        while guard.check(unique_message(name, index), name):
            index += 1
        next_index[campaign] = index + 1
        request = generator._request(job, attempt=1)
        keys.append(generator._key(request))
        prompt_hashes.append(request.prompt.sha256)
        texts.append(unique_message(name, index))

    count = len(jobs)
    rows = pa.table(
        {
            "request_hash": keys,
            "provider": [provider.name] * count,
            "model": [provider.model] * count,
            "prompt_version": [PROMPT_VERSION] * count,
            "prompt_hash": prompt_hashes,
            "text": texts,
            "prompt_tokens": pa.array([0] * count, pa.int64()),
            "completion_tokens": pa.array([0] * count, pa.int64()),
            "latency_ms": pa.array([0.0] * count, pa.float64()),
            "created_at": pa.array([datetime.now(timezone.utc)] * count, pa.timestamp("us", tz="UTC")),
        }
    )
    with duckdb.connect() as connection:
        connection.execute(f"attach '{cache_file}' as llm_cache")
        ResponseCache(connection).close()  # creates the tables exactly as the runner expects them
        connection.register("prefilled", rows)
        connection.execute("insert into llm_cache.main.responses by name select * from prefilled")
    return pa.table(
        {
            "client_id": [job.client_id for job in jobs],
            "campaign_id": [job.context.campaign_id for job in jobs],
            "round": [1] * count,
            "message": texts,
            "status": ["ok"] * count,
        }
    )
