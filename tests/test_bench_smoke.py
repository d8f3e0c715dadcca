"""Smoke version of `make bench`'s scale and re-run checks: call counts at the loopback server, no times.

2,000 generated clients (with the export's mess: punctuated, short and invalid CPFs, duplicated ids)
go through `dbt build` from CSV with every message already cached: zero model calls. An unchanged
re-run makes zero calls, and 1% new clients make exactly one call per new client and campaign.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from bench.prefill import campaigns_table, prefill_cache
from bench.run import CAMPAIGNS_SEED, dbt_build, mart_clients, server_settings
from testkit.datagen import generate
from testkit.llm_server import LLMServer

CLIENTS = 2_000
NEW_CLIENTS = CLIENTS // 100


@pytest.fixture(scope="module")
def server():
    with LLMServer() as running:
        yield running


def test_cached_build_and_reruns_call_the_model_only_for_new_clients(tmp_path: Path, server: LLMServer):
    imports = tmp_path / "imports"
    generate(imports, CLIENTS)
    database, cache = tmp_path / "marketing.duckdb", tmp_path / "cache.duckdb"
    prefilled = prefill_cache(
        cache,
        mart_clients(tmp_path, imports, cache, server),
        campaigns_table(CAMPAIGNS_SEED),
        server_settings(server),
    )
    campaigns = len(set(prefilled.column("campaign_id").to_pylist()))

    before = server.requests
    dbt_build(tmp_path, imports, database, cache, server)
    assert server.requests - before == 0, "a fully cached build called the model"

    before = server.requests
    dbt_build(tmp_path, imports, database, cache, server)
    assert server.requests - before == 0, "an unchanged re-run called the model"

    generate(imports, NEW_CLIENTS, first_id=CLIENTS + 1, suffix="_new")
    before = server.requests
    dbt_build(tmp_path, imports, database, cache, server)
    assert server.requests - before == NEW_CLIENTS * campaigns

    with duckdb.connect(str(database), read_only=True) as connection:
        ok_rows = connection.execute(
            "select count(*) from marketing_messages where status = 'ok'"
        ).fetchone()[0]
    assert ok_rows == prefilled.num_rows + NEW_CLIENTS * campaigns
