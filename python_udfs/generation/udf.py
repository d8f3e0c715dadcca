"""`generate_text(campaign_id, first_name, segment)`: the generative step as a SQL function.

For analysts trying a campaign on a handful of rows from SQL, with the same cache as the model: the
same row asked twice costs one call. It returns the cleaned, validated message, or NULL when every
attempt failed. Vectorised: DuckDB hands over arrow batches, and the requests of a batch go out
concurrently.

A plain DuckDB connection has no dbt vars, so this function alone reads its settings from the
environment variables (`Settings.from_environment`: MARKETING_PROVIDER, MARKETING_MODEL,
OPENAI_BASE_URL, OLLAMA_HOST, MARKETING_MAX_RETRIES, ...), with the same defaults as
`dbt_project.yml`. The dbt model takes its settings from the dbt vars instead.
"""

from __future__ import annotations

import threading

import pyarrow as pa
from duckdb import sqltypes

from python_udfs.generation.cache import ResponseCache
from python_udfs.generation.generator import Generator
from python_udfs.generation.progress import Progress
from python_udfs.generation.prompts import MessageContext
from python_udfs.generation.providers import Provider, build_provider
from python_udfs.generation.records import Campaign, Job, RoundRow
from python_udfs.generation.settings import Settings

__all__ = ["register_generate_text"]


def register_generate_text(conn) -> None:
    conn.create_function(
        "generate_text",
        _GenerateText(conn),
        [sqltypes.VARCHAR, sqltypes.VARCHAR, sqltypes.VARCHAR],
        sqltypes.VARCHAR,
        type="arrow",
        null_handling="special",
    )


class _GenerateText:
    def __init__(self, conn) -> None:
        self._conn = conn
        # DuckDB may call from several threads; batches run one at a time, requests inside in parallel.
        self._lock = threading.Lock()
        self._state: tuple[Settings, Provider, ResponseCache] | None = None

    def __call__(self, campaign_ids: pa.Array, first_names: pa.Array, segments: pa.Array) -> pa.Array:
        with self._lock:
            settings, provider, cache = self._ready()
            campaigns = self._campaigns()
            rows = zip(campaign_ids.to_pylist(), first_names.to_pylist(), segments.to_pylist(), strict=True)
            jobs = [
                _job(campaigns.get(campaign_id), name, segment, settings)
                for campaign_id, name, segment in rows
            ]
            todo = [job for job in jobs if job is not None]
            generator = Generator(settings, provider, cache, Progress(len(todo), label="generate_text"))
            try:
                # A SQL function maps equal inputs to equal outputs: no duplicate check across rows.
                generator.run(todo, check_duplicates=False)
            finally:
                generator.close()
                cache.flush()
            return pa.array(
                [job.message if job is not None and job.status == "ok" else None for job in jobs], pa.string()
            )

    def _ready(self) -> tuple[Settings, Provider, ResponseCache]:
        # Built on first use: `llm_cache` is attached after plugins run, and most sessions never call this.
        if self._state is None:
            settings = Settings.from_environment()
            self._state = (settings, build_provider(settings), ResponseCache(self._conn))
        return self._state

    def _campaigns(self) -> dict[str, Campaign]:
        cursor = self._conn.cursor()
        try:
            rows = cursor.execute(
                "select campaign_id, instructions, max_characters, temperature from campaigns"
            ).fetchall()
        finally:
            cursor.close()
        return {
            campaign_id: Campaign(campaign_id, instructions or "", max_characters or 160, temperature)
            for campaign_id, instructions, max_characters, temperature in rows
        }


def _job(
    campaign: Campaign | None, first_name: str | None, segment: str | None, settings: Settings
) -> Job | None:
    """The job for one SQL row; None (a NULL result) for an unknown campaign or no name."""
    if campaign is None or not first_name:
        return None
    context = MessageContext(
        campaign.campaign_id, campaign.instructions, campaign.max_characters, first_name, segment
    )
    return Job(
        RoundRow(
            context=context,
            seed_key=f"sql|{campaign.campaign_id}|{first_name}|{segment}",
            temperature=campaign.sampling_temperature(settings.temperature),
        )
    )
