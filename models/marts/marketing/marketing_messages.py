"""One row per client, generated campaign and round: the messages the language model wrote.

Incremental: each run asks only for the rows that are missing (or not `ok` yet); see
`python_udfs/generation/orchestrator.py`. Cached rows are settled in DuckDB, on dbt's own
connection; only the rows that need a model call pass through Python. Settings arrive as the
`generation` config, which dbt_project.yml renders from the generation_* vars (Python models
cannot call `var()`); the environment variables fill the settings those leave unset.
"""

from python_udfs.generation import generate_missing_relation


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["client_id", "campaign_id", "round"],
    )
    existing = None
    if dbt.is_incremental:
        # `attempts`: a row not ok yet continues from its last attempt instead of replaying it.
        existing = session.sql(
            f"select client_id, campaign_id, round, status, message, attempts from {dbt.this}"
        )
    # A relation over the run's rows in DuckDB: dbt writes them without them passing through Python.
    return generate_missing_relation(
        # Only what a prompt may use: never the CPF, the full name or the balance.
        clients=dbt.ref("clients").project("client_id, first_name, segment"),
        campaigns=dbt.ref("stg_marketing__campaigns"),
        # The offer chosen in SQL for each (client, campaign, round): the phrase the message opens with.
        offers=dbt.ref("campaign_offers").project("client_id, campaign_id, round, offer"),
        existing=existing,
        settings=dbt.config.get("generation"),
        # dbt's cursor: the cache attached as `llm_cache` is written through cursors of its own.
        connection=session,
    )
