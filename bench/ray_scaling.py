"""`make bench-ray`: the Ray engine with 1, 2 and 4 actors beside the in-process engines.

    .venv/bin/python -m bench.ray_scaling [--clients 10000] [--repeats 1] [--quick]

Every engine makes the same calls (one campaign, `--clients` clients, nothing cached) to the
loopback server in a process of its own (50 ms a request, 16 at once: a ceiling of 320 answers a
second), 16 calls in flight in total, through `generate_missing` (planning, cache writes, judging
included). Each run reports its end-to-end rate and its steady rate (first answer to last: what is
left once the Ray engine's start-up is paid), and the Ray runs their start-up (the wave's dataset
and actors, until the first answer). Writes `bench/results/ray_scaling.json`; docs/SCALING.md
quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from bench.measure import machine_info
from python_udfs.generation import Settings, generate_missing
from python_udfs.generation import generator as generator_module
from python_udfs.generation.execution import build_engine

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "ray_scaling.json"
LATENCY_MS, SLOTS, IN_FLIGHT = 50, 16, 16
CEILING = SLOTS / (LATENCY_MS / 1000)
CAMPAIGN = "christmas_gifts"
# (engine, actors): the in-process engines first, then Ray with 1, 2 and 4 actors.
ENGINES = (("threads", 0), ("auto", 0), ("ray", 1), ("ray", 2), ("ray", 4))
NAMES = ("Ana", "Bruno", "Carla", "Davi", "Elisa", "Fabio", "Gabi", "Heitor", "Iara", "Jonas")


@dataclass
class Timing:
    """When the engine was first asked for calls, and when each answer of that first wave came."""

    asked: float | None = None
    arrivals: list[float] = field(default_factory=list)
    calls: int = 0

    def steady_rate(self) -> float:
        """Answers a second between the 10th and the 90th percentile of the first wave's arrivals:
        the rate once start-up is paid (Ray hands answers back a batch at a time, so the first
        answer's time alone would credit a whole batch to no time at all)."""
        low, high = len(self.arrivals) // 10, len(self.arrivals) * 9 // 10
        return (high - low) / (self.arrivals[high] - self.arrivals[low])


class TimedEngine:
    """Any engine, with the arrival time of its first wave's answers noted."""

    def __init__(self, inner, timing: Timing) -> None:
        self.inner, self.timing = inner, timing
        self.concurrency = inner.concurrency

    def run(self, calls: Iterable) -> Iterator:
        first_wave = self.timing.asked is None
        if first_wave:
            self.timing.asked = time.perf_counter()
        for result in self.inner.run(calls):
            if first_wave:
                self.timing.arrivals.append(time.perf_counter())
            self.timing.calls += 1
            yield result

    def close(self, cancel: bool = False) -> None:
        self.inner.close(cancel=cancel)


@dataclass(frozen=True)
class Run:
    engine: str
    actors: int
    messages: int
    ok: int
    model_calls: int
    seconds: float
    steady_calls_per_second: float
    startup_seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def start_server() -> tuple[subprocess.Popen, str]:
    """The loopback model server in its own process; its OpenAI base URL."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "testkit.llm_server",
            "--latency-ms",
            str(LATENCY_MS),
            "--concurrency",
            str(SLOTS),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = server.stdout.readline() if server.stdout else ""
    match = re.search(r"OpenAI base URL (\S+)\)", line)
    if not match:
        server.kill()
        raise RuntimeError(f"the model server did not start: {line!r}")
    return server, match.group(1)


def clients(count: int) -> pa.Table:
    return pa.table(
        {
            "client_id": pa.array(range(1, count + 1), pa.int32()),
            "first_name": [NAMES[index % len(NAMES)] for index in range(count)],
            "segment": ["basico"] * count,
        }
    )


def campaigns() -> pa.Table:
    with duckdb.connect() as connection:
        return connection.execute(
            "select * from read_csv(?, header = true, "
            "types = {'max_characters': 'INTEGER', 'temperature': 'DOUBLE', 'is_active': 'BOOLEAN'})",
            [str(ROOT / "seeds" / "campaigns.csv")],
        ).to_arrow_table()


def one_run(engine: str, actors: int, count: int, base_url: str, scratch: Path) -> Run:
    """One generation run on a fresh cache, timed from the call of generate_missing to its return."""
    settings = Settings(
        provider="openai",
        base_url=base_url,
        max_concurrency=IN_FLIGHT,
        timeout_seconds=10.0,
        max_retries=1,
        campaigns=(CAMPAIGN,),
        engine=engine,
        ray_actors=max(actors, 1),
    )
    timing = Timing()
    generator_module.build_engine = lambda s, p: TimedEngine(build_engine(s, p), timing)  # type: ignore[attr-defined]
    cache_dir = Path(tempfile.mkdtemp(dir=scratch))
    connection = duckdb.connect(str(cache_dir / "marketing.duckdb"))
    connection.execute(f"attach '{cache_dir / 'llm_cache.duckdb'}' as llm_cache")
    started = time.perf_counter()
    try:
        output = generate_missing(clients(count), campaigns(), settings=settings, connection=connection)
    finally:
        connection.close()
        generator_module.build_engine = build_engine  # type: ignore[attr-defined]
    seconds = time.perf_counter() - started
    statuses = output.column("status").to_pylist()
    return Run(
        engine=engine,
        actors=actors,
        messages=output.num_rows,
        ok=statuses.count("ok"),
        model_calls=timing.calls,
        seconds=seconds,
        steady_calls_per_second=timing.steady_rate(),
        startup_seconds=timing.arrivals[0] - (timing.asked or started),
    )


def summary(runs: list[Run]) -> dict:
    """Medians per (engine, actors), with shares of the ceiling and the Ray overhead."""
    rows = {}
    for engine, actors in ENGINES:
        mine = [run for run in runs if (run.engine, run.actors) == (engine, actors)]
        if not mine:
            continue
        rate = statistics.median(run.rate for run in mine)
        steady = statistics.median(run.steady_calls_per_second for run in mine)
        rows[f"{engine}{f' x{actors}' if actors else ''}"] = {
            "messages_per_second": round(rate, 1),
            "steady_calls_per_second": round(steady, 1),
            "share_of_ceiling": round(rate / CEILING, 3),
            "steady_share_of_ceiling": round(steady / CEILING, 3),
            "startup_seconds": round(statistics.median(run.startup_seconds for run in mine), 2),
        }
    # Against both in-process engines at the same calls in flight: `auto` (asyncio, the default for
    # HTTP providers) is the one to beat.
    in_process = {name: rows[name] for name in ("threads", "auto") if name in rows}
    for name, row in rows.items():
        if not name.startswith("ray"):
            continue
        for engine, base in in_process.items():
            row[f"overhead_vs_{engine}"] = round(
                base["messages_per_second"] / row["messages_per_second"] - 1, 3
            )
            row[f"steady_overhead_vs_{engine}"] = round(
                base["steady_calls_per_second"] / row["steady_calls_per_second"] - 1, 3
            )
    return rows


def measure(count: int, repeats: int, scratch: Path) -> tuple[list[Run], float]:
    """Every engine `repeats` times, interleaved so a busy neighbour weighs on all of them alike."""
    import ray

    os.environ.setdefault("OPENAI_API_KEY", "bench-key-not-secret")
    started = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    cluster_seconds = time.perf_counter() - started
    server, base_url = start_server()
    runs = []
    try:
        for repeat in range(repeats):
            for engine, actors in ENGINES:
                run = one_run(engine, actors, count, base_url, scratch)
                print(f"[{repeat + 1}/{repeats}] {engine} x{actors}: {run.rate:.0f} msg/s", file=sys.stderr)
                runs.append(run)
    finally:
        server.terminate()
        server.wait()
        ray.shutdown()
    return runs, cluster_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="400 clients, to check the script")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    count = 400 if args.quick else args.clients
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as scratch:
        runs, cluster_seconds = measure(count, args.repeats, Path(scratch))
    results = {
        "machine": machine_info(),
        "server": {"latency_ms": LATENCY_MS, "concurrency": SLOTS, "ceiling": CEILING},
        "clients": count,
        "in_flight": IN_FLIGHT,
        "ray_cluster_start_seconds": round(cluster_seconds, 2),
        "load_average_after": os.getloadavg(),
        "summary": summary(runs),
        "runs": [asdict(run) for run in runs],
    }
    print(json.dumps(results["summary"], indent=2))
    if not args.quick or args.output != RESULTS:
        args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
