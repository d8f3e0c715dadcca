"""`generate_text(campaign_id, first_name, segment)`: the generative step as a SQL function.

For analysts trying a campaign on a handful of rows from SQL, with the provider configured by the
environment (MARKETING_PROVIDER, ...: there are no dbt vars on a plain connection) and the same
cache as the model: the same row asked twice costs one call. It returns the cleaned, validated
message, or NULL when every attempt failed. Vectorised: DuckDB hands over arrow batches, and the
requests of a batch go out concurrently.
"""

from __future__ import annotations

import threading

import pyarrow as pa
from duckdb import sqltypes

from python_udfs.generation.cache import ResponseCache
from python_udfs.generation.progress import Progress
from python_udfs.generation.prompts import MessageContext
from python_udfs.generation.providers import build_provider
from python_udfs.generation.runner import DEFAULT_TEMPERATURE, Generator, Job
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
        self._state = None

    def __call__(self, campaign_ids: pa.Array, first_names: pa.Array, segments: pa.Array) -> pa.Array:
        with self._lock:
            settings, provider, cache = self._ready()
            campaigns = self._campaigns()
            rows = zip(campaign_ids.to_pylist(), first_names.to_pylist(), segments.to_pylist(), strict=True)
            jobs: list[Job | None] = []
            for campaign_id, first_name, segment in rows:
                campaign = campaigns.get(campaign_id)
                if campaign is None or not first_name:
                    jobs.append(None)
                    continue
                instructions, max_characters, temperature = campaign
                if settings.temperature is not None:
                    temperature = settings.temperature
                jobs.append(
                    Job(
                        context=MessageContext(
                            campaign_id, instructions or "", max_characters or 160, first_name, segment
                        ),
                        seed_key=f"sql|{campaign_id}|{first_name}|{segment}",
                        temperature=DEFAULT_TEMPERATURE if temperature is None else float(temperature),
                    )
                )
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

    def _ready(self):
        # Built on first use: `llm_cache` is attached after plugins run, and most sessions never call this.
        if self._state is None:
            settings = Settings.from_config()
            self._state = (settings, build_provider(settings), ResponseCache(self._conn))
        return self._state

    def _campaigns(self) -> dict:
        cursor = self._conn.cursor()
        try:
            rows = cursor.execute(
                "select campaign_id, instructions, max_characters, temperature from campaigns"
            ).fetchall()
        finally:
            cursor.close()
        return {campaign_id: tuple(rest) for campaign_id, *rest in rows}
