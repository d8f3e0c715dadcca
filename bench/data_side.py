"""`make bench-data-side`: the shaping side of the pipeline alone, at one and ten million clients.

    .venv/bin/python -m bench.data_side [--sizes 1000000,10000000] [--memory-limit 8GB]

For each size: generated CSV exports (`testkit.datagen`), then `dbt build` of the seeds and models
up to the `clients` mart and `campaign_offers` (staging, validation, the rejected rows, the client
marts and each row's catalogue offer: everything the generative step reads), data tests excluded,
with `MARKETING_DUCKDB_MEMORY_LIMIT` set. No model, no cache: the generative step and the exports
after it are what `make bench`'s scale section measures with every message cached, up to a million
clients. Writes `bench/results/data_side.json`; docs/SCALING.md quotes it.
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
from bench.run import MART_INPUTS_SELECTION, dbt_build, fresh
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--memory-limit", default="8GB")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="data-side-") as scratch:
        runs = [shaping_run(int(size), args.memory_limit, Path(scratch)) for size in args.sizes.split(",")]
    results = {"machine": machine_info(), "runs": runs}
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
