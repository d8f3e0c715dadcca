"""The rows `marketing_messages` receives: their schema, and the jobs' outcomes as arrow."""

from __future__ import annotations

import pyarrow as pa

from python_udfs.generation.prompts import PROMPT_VERSION
from python_udfs.generation.records import Job

__all__ = ["OUTPUT_SCHEMA", "jobs_table"]

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


def jobs_table(jobs: list[Job], provider: str, model: str) -> pa.Table:
    """The jobs' outcomes as OUTPUT_SCHEMA rows, in the jobs' order."""
    return pa.table(
        {
            "client_id": [job.row.client_id for job in jobs],
            "campaign_id": [job.row.context.campaign_id for job in jobs],
            "round": [job.row.round for job in jobs],
            "message": [job.message for job in jobs],
            "status": [job.status for job in jobs],
            "error_reason": [job.error_reason for job in jobs],
            "provider": [provider] * len(jobs),
            "model": [model] * len(jobs),
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
