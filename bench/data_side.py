"""`make bench-data-side`: the data side of the pipeline at one and ten million clients.

    .venv/bin/python -m bench.data_side [--sizes 1000000,10000000] [--memory-limit 8GB] [--cached]

For each size: generated CSV exports (`testkit.datagen`), then, with `MARKETING_DUCKDB_MEMORY_LIMIT`
set, either

- (default) `dbt build` of the seeds and models up to the `clients` mart and `campaign_offers`
  (staging, validation, the rejected rows, the client marts and each row's catalogue offer:
  everything the generative step reads), data tests excluded; no model, no cache; or
- (`--cached`) the whole `dbt build`, every data test included, with every message already in the
  cache (`bench.prefill`, as `make bench`'s scale section does up to a million clients): the
  generative step replays 2 messages a client from the cache and makes no model call. Plain DuckDB
  SQL doing the same shaping is timed beside it.

Writes its part of `bench/results/data_side.json` (`runs` or `cached_runs`), keeping the other;
docs/SCALING.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from bench.measure import machine_info
from bench.run import (
    MART_INPUTS_SELECTION,
    cache_every_message,
    dbt_build,
    fresh,
    plain_sql_run,
    slowest_nodes,
)
from testkit.datagen import generate
from testkit.llm_server import LLMServer

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "data_side.json"


def shaping_run(size: int, memory_limit: str, scratch: Path) -> dict:
    """Generate `size` clients' exports and build the shaping models on them, measured."""
    workdir = scratch / f"data-side-{size}"
    started = time.perf_counter()
    generate(workdir / "imports", size)
    generate_seconds = time.perf_counter() - started
    database = fresh(workdir / "marketing.duckdb")
    with LLMServer() as server:
        build = dbt_build(
            workdir,
            workdir / "imports",
            database,
            workdir / "cache.duckdb",
            server,
            "build",
            *MART_INPUTS_SELECTION,
            extra_env={"MARKETING_DUCKDB_MEMORY_LIMIT": memory_limit},
        )
    with duckdb.connect(str(database), read_only=True) as connection:
        clients, offers = connection.execute(
            "select (select count(*) from clients), (select count(*) from campaign_offers)"
        ).fetchone()
    result = {
        "clients_generated": size,
        "generate_seconds": round(generate_seconds, 1),
        "dbt_seconds": round(build.seconds, 1),
        "dbt_peak_mb": round(build.peak_rss_mb),
        "memory_limit": memory_limit,
        "clients_rows": clients,
        "campaign_offers_rows": offers,
        "database_mb": round(database.stat().st_size / 2**20),
    }
    print(json.dumps(result), flush=True)
    shutil.rmtree(workdir)
    return result


def cached_run(size: int, memory_limit: str, scratch: Path, checked_every: int) -> dict:
    """Generate `size` clients' exports, cache every message, then `dbt build` them all, measured."""
    workdir = scratch / f"cached-{size}"
    imports = workdir / "imports"
    generate(imports, size)
    cache = fresh(workdir / "cache.duckdb")
    env = {"MARKETING_DUCKDB_MEMORY_LIMIT": memory_limit}
    with LLMServer() as server:
        started = time.perf_counter()
        messages_parquet = workdir / "messages.parquet"
        prefilled = cache_every_message(
            workdir,
            imports,
            cache,
            server,
            messages_parquet,
            checked_every=checked_every,
            memory_limit=memory_limit,
        )
        prefill_seconds = time.perf_counter() - started
        message_count = prefilled.messages
        print(f"{size:,}: {message_count:,} answers cached in {prefill_seconds:.0f} s", flush=True)
        database = fresh(workdir / "marketing.duckdb")
        before = server.requests
        build = dbt_build(workdir, imports, database, cache, server, extra_env=env)
        calls = server.requests - before
    plain = plain_sql_run(workdir, imports, messages_parquet)
    with duckdb.connect(str(database), read_only=True) as connection:
        ok, cached = connection.execute(
            "select count(*) filter (status = 'ok'), count(*) filter (is_cached) from marketing_messages"
        ).fetchone()
    result = {
        "clients_generated": size,
        "messages_cached": message_count,
        "prefill_seconds": round(prefill_seconds, 1),
        "prefill_checked_every": checked_every,
        "dbt_seconds": round(build.seconds, 1),
        "dbt_peak_mb": round(build.peak_rss_mb),
        "memory_limit": memory_limit,
        "model_calls": calls,
        "messages_ok": ok,
        "messages_from_cache": cached,
        "plain_sql_seconds": round(plain.seconds, 1),
        "plain_sql_peak_mb": round(plain.peak_rss_mb),
        "ratio_to_plain_sql": round(build.seconds / plain.seconds, 2),
        "slowest_nodes": slowest_nodes(workdir / "target" / "run_results.json", 10),
    }
    print(json.dumps(result), flush=True)
    shutil.rmtree(workdir)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--memory-limit", default="8GB")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--cached", action="store_true", help="the whole build, every message cached")
    parser.add_argument(
        "--checked-every", type=int, default=100, help="with --cached: the prefill checks one answer in N"
    )
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="data-side-") as scratch:
        if args.cached:
            key = "cached_runs"
            runs = [cached_run(size, args.memory_limit, Path(scratch), args.checked_every) for size in sizes]
        else:
            key = "runs"
            runs = [shaping_run(size, args.memory_limit, Path(scratch)) for size in sizes]
    results = json.loads(args.output.read_text(encoding="utf-8")) if args.output.exists() else {}
    results[key] = runs
    results["machine" if key == "runs" else f"{key}_machine"] = machine_info()
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
