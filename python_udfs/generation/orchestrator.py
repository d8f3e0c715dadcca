"""`generate_missing`: the generative step from end to end, round after round, in DuckDB.

Determinism is what makes the cache work. A row's request depends only on: the settings (provider,
model, parameters, seed), the prompt version, the campaign, the row's prompt context (the client's
first name and segment, the client's earlier ok messages in the campaign, the ok messages of the
previous round from the few clients just before it, by id), and the attempt number. Rounds run in
order, each from the finished previous one, and duplicates within a round are decided in (campaign,
client) order after every answer of a wave is in, never in arrival order. So a `--full-refresh`, or
a re-run after a crash, rebuilds exactly the same requests, finds them in the cache, and calls the
model only for what was never answered.

A row already in the table but not `ok` continues its attempt numbers on the next run: a rejected
row from the attempt after its last one (its cached answers were all rejected: replaying them would
reject it again), a failed row from the attempt that failed (nothing was cached for it). Each run
gives a row at most `max_regenerations + 1` attempts.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

import duckdb
import pyarrow as pa

from python_udfs.generation.cache import ResponseCache
from python_udfs.generation.generator import Generator
from python_udfs.generation.judging import RoundGuards
from python_udfs.generation.ledger import RunLedger
from python_udfs.generation.output import OUTPUT_SCHEMA, jobs_table
from python_udfs.generation.planning import OUTPUT_TABLE, RunPlan
from python_udfs.generation.progress import Progress
from python_udfs.generation.providers import Provider, build_provider
from python_udfs.generation.records import Job
from python_udfs.generation.replay import replay_decided
from python_udfs.generation.settings import Settings

__all__ = ["generate_missing", "generate_missing_relation"]


def generate_missing(
    clients,
    campaigns,
    existing=None,
    settings: Settings | Mapping | None = None,
    *,
    offers=None,
    connection: duckdb.DuckDBPyConnection | None = None,
    provider: Provider | None = None,
    progress_label: str = "marketing_messages",
) -> pa.Table:
    """New rows of `marketing_messages` (OUTPUT_SCHEMA) for every missing (client, campaign, round).

    `clients` needs client_id, first_name and segment; `campaigns` the columns of
    stg_marketing__campaigns; `existing` the model's current rows (None on a first run or a full
    refresh); `offers` (client_id, campaign_id, round, offer: the campaign_offers model) the
    catalogue phrase each row's prompt opens with. Rows already `ok` are kept; rejected and error
    rows are tried again, continuing their `attempts`. `connection` must have the cache attached
    as `llm_cache`; without it the cache is in memory. The rows come back as arrow;
    `generate_missing_relation` leaves them in DuckDB.
    """
    own_connection = connection is None
    connection = _memory_cache() if connection is None else connection
    try:
        rows = generate_missing_relation(
            clients,
            campaigns,
            existing,
            settings,
            offers=offers,
            connection=connection,
            provider=provider,
            progress_label=progress_label,
        )
        return rows.to_arrow_table().cast(OUTPUT_SCHEMA)
    finally:
        if own_connection:
            connection.close()
        else:
            connection.execute(f"drop table if exists temp.main.{OUTPUT_TABLE}")


def generate_missing_relation(
    clients,
    campaigns,
    existing=None,
    settings: Settings | Mapping | None = None,
    *,
    offers=None,
    connection: duckdb.DuckDBPyConnection,
    provider: Provider | None = None,
    progress_label: str = "marketing_messages",
) -> duckdb.DuckDBPyRelation:
    """`generate_missing`, its rows left in a temporary table of `connection` (`OUTPUT_TABLE`):
    what the dbt model returns, so dbt writes a million rows without them entering Python.

    Each round is first settled in bulk from stored decisions (`replay`, in DuckDB); only the rest
    goes through the `Generator`. The relation reads the temporary table: use it before running
    the step again on the same connection.
    """
    if not isinstance(settings, Settings):
        # The dbt model's rendered `generation` config: the environment fills what the vars leave unset.
        settings = Settings.from_config(settings, os.environ)
    plan = RunPlan(clients, campaigns, existing, settings, offers, connection=connection)
    provider = provider or build_provider(settings)
    cache = ResponseCache(connection)
    progress = Progress(plan.total, label=progress_label)
    generator = Generator(settings, provider, cache, progress)
    ledger = RunLedger(plan.total, provider.name, provider.model)
    status = "failed"
    try:
        for number in range(1, settings.rounds + 1):
            _run_round(plan, number, generator, ledger)
            ledger.check_failure_share(settings.max_failure_share)
        status = "completed"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        generator.close(cancel=True)
        cache.flush()
        _log(ledger, status, generator, cache, progress)
        cache.close()
        plan.close(keep_output=status == "completed")
    return plan.output()


def _run_round(plan: RunPlan, number: int, generator: Generator, ledger: RunLedger) -> None:
    """Settle what the cache decided, run the rest, and keep the round's ok messages for the next."""
    round_ = plan.round(number)
    replay = replay_decided(round_, generator.keys, ledger.provider, ledger.model)
    generator.progress.rows_answered(replay.settled, cached=True)
    jobs = [Job(row) for row in round_.rows_at(replay.rest)]
    ledger.add_round(replay, jobs)
    if jobs:
        generator.run(jobs, guards=RoundGuards(replay.accepted))
        plan.add_output(jobs_table(jobs, ledger.provider, ledger.model))
    plan.remember_ok(number)


def _log(
    ledger: RunLedger, status: str, generator: Generator, cache: ResponseCache, progress: Progress
) -> None:
    """The run's one summary line and its generation_log row, however it ended."""
    statuses = ledger.statuses()
    counts = generator.counts
    progress.summary(
        statuses["ok"], statuses["rejected"], statuses["error"], counts.model_calls, counts.http_retries
    )
    cache.log_run(dataclasses.asdict(ledger.log_row(status, counts)))


def _memory_cache() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("attach ':memory:' as llm_cache")
    return connection
