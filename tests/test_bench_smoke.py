"""Smoke version of `make bench`: its scale and re-run checks (call counts at the loopback server, no
times), and the pieces that say where the time goes.

2,000 generated clients (with the export's mess: punctuated, short and invalid CPFs, duplicated ids)
go through `dbt build` from CSV with every message already cached: zero model calls. Then 1% new
clients make exactly one call per new client and campaign, and none for the rows already built.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from bench.measure import run_measured
from bench.profile import PHASES, PhaseTimer
from bench.run import (
    build_timeline,
    cache_every_message,
    dbt_build,
    earlier_results,
    server_settings,
)
from python_udfs.generation import generate_missing
from python_udfs.generation.execution import Executor
from testkit.datagen import generate
from testkit.llm_server import LLMServer, ServerProcess
from tests.generation_support import cache_connection, campaigns, demo_clients
from tests.reliability_support import NO_DATA_TESTS

CLIENTS = 2_000
NEW_CLIENTS = CLIENTS // 100


@pytest.fixture(scope="module")
def server():
    with LLMServer() as running:
        yield running


@pytest.mark.slow
def test_cached_build_and_reruns_call_the_model_only_for_new_clients(tmp_path: Path, server: LLMServer):
    imports = tmp_path / "imports"
    generate(imports, CLIENTS)
    database, cache = tmp_path / "marketing.duckdb", tmp_path / "cache.duckdb"
    messages = tmp_path / "messages.parquet"
    prefilled = cache_every_message(tmp_path, imports, cache, server, messages)
    campaigns = prefilled.campaigns
    assert pq.read_table(messages).num_rows == prefilled.messages

    # Model calls are counted here: the data tests run in the project's own builds.
    models_only = ("build", *NO_DATA_TESTS)
    before = server.requests
    dbt_build(tmp_path, imports, database, cache, server, *models_only)
    assert server.requests - before == 0, "a fully cached build called the model"

    # No unchanged re-run here: the next build's exact count says no cached row was asked again.
    generate(imports, NEW_CLIENTS, first_id=CLIENTS + 1, suffix="_new")
    before = server.requests
    dbt_build(tmp_path, imports, database, cache, server, *models_only)
    assert server.requests - before == NEW_CLIENTS * campaigns

    with duckdb.connect(str(database), read_only=True) as connection:
        ok_rows = connection.execute(
            "select count(*) from marketing_messages where status = 'ok'"
        ).fetchone()[0]
    assert ok_rows == prefilled.messages + NEW_CLIENTS * campaigns


def test_the_build_timeline_cuts_the_wall_time_at_the_generative_node(tmp_path: Path):
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def stamp(seconds: float) -> str:
        return (start + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")

    def node(unique_id: str, begin: float, end: float) -> dict:
        return {"unique_id": unique_id, "timing": [{"started_at": stamp(begin), "completed_at": stamp(end)}]}

    results = [
        node("model.p.clients", 3, 5),
        node("model.p.marketing_messages", 6, 16),
        node("test.p.t", 15, 18),
    ]
    run_results = tmp_path / "run_results.json"
    run_results.write_text(json.dumps({"results": results}), encoding="utf-8")
    parts = build_timeline(run_results, start, start + timedelta(seconds=20))
    assert list(parts.values()) == [3, 3, 10, 2, 2]
    assert sum(parts.values()) == 20


def test_a_partial_run_keeps_the_other_sections_with_their_dates(tmp_path: Path):
    earlier = tmp_path / "latest.json"
    earlier.write_text(
        json.dumps({"machine": {"date": "then"}, "throughput": {"old": 1}, "cpf": {"kept": 2}}),
        encoding="utf-8",
    )
    kept = earlier_results(earlier, ["throughput"])
    assert kept == {"cpf": {"kept": 2}, "measured_at": {"cpf": "then"}}


@pytest.mark.slow
def test_the_phases_and_the_rest_add_up_to_the_run_and_the_patches_are_undone(tmp_path: Path):
    original_store = Executor.__dict__["_store"]
    with ServerProcess() as server:
        settings = server_settings(server, campaigns=("christmas_gifts",))
        with PhaseTimer() as phases:
            started = time.perf_counter()
            rows = generate_missing(
                demo_clients(), campaigns(), settings=settings, connection=cache_connection(tmp_path)
            )
            wall = time.perf_counter() - started
        assert server.requests == rows.num_rows == 6
    breakdown = phases.breakdown(wall)
    assert list(breakdown) == [*PHASES, "other"]
    assert breakdown["http"] > 0 and breakdown["planning"] > 0
    assert sum(breakdown.values()) == pytest.approx(wall, abs=0.01)
    assert Executor.__dict__["_store"] is original_store


def test_a_command_s_peak_memory_is_its_own_not_the_benchmark_s():
    """A forked child inherits its parent's high-water mark: a small command run by a big benchmark
    must not report the benchmark's memory, and a big one (holding it past a polling interval) must
    report its own."""
    held = bytearray(400 * 2**20)  # the benchmark after a big prefill
    held[::4096] = b"x" * len(held[::4096])  # touch every page: resident, not just reserved
    small = run_measured([sys.executable, "-c", "pass"], env=dict(os.environ), cwd=Path.cwd())
    big = run_measured(
        [
            sys.executable,
            "-c",
            "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.5)",
        ],
        env=dict(os.environ),
        cwd=Path.cwd(),
    )
    del held
    assert small.peak_rss_mb < 100
    assert 300 < big.peak_rss_mb < 400
