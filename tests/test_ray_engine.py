"""The Ray engine on a real local Ray cluster, against the loopback model server.

One cluster for the module (`ray.init` on this machine's cores; starting one takes seconds). The
server answers each request from a hash of its body, not from its arrival order, so two engines
sending the same requests in different orders get the same answers, and their outputs can be
compared row for row: same messages, statuses, attempts and call counts.
"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import pyarrow as pa
import pytest

from python_udfs.generation import Settings, generate_missing
from python_udfs.generation.engines.ray_engine import RayEngine
from python_udfs.generation.execution import build_engine
from python_udfs.generation.providers import build_provider
from testkit.llm_server import DISTINCT_MESSAGES, LLMServer
from tests.generation_support import cache_connection, campaigns

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.slow

CLIENTS = 240
ACTORS = 4
FIRST_NAMES = ("Ana", "Bruno", "Carla", "Davi", "Elisa", "Fábio", "Gabi", "Heitor", "Iara", "Jonas")
# Columns that differ between two runs of the same input: when and how fast each answer came.
RUN_DEPENDENT = ("latency_ms", "generated_at")


class ContentAddressedServer(LLMServer):
    """Answers a request with the message its body's hash picks: the same request, the same answer."""

    def _admit(self, body: str, prompt: str) -> tuple[str | None, int]:
        super()._admit(body, prompt)
        return None, int(hashlib.sha256(body.encode()).hexdigest(), 16) % DISTINCT_MESSAGES


class WorkerKillingServer(ContentAddressedServer):
    """Kills one Ray actor process (SIGKILL) when the `kill_at`-th request arrives."""

    def __init__(self, kill_at: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.kill_at = kill_at
        self.killed: list[int] = []

    def _admit(self, body: str, prompt: str) -> tuple[str | None, int]:
        answer = super()._admit(body, prompt)
        if self.requests == self.kill_at:
            self.killed = _kill_one_actor()
        return answer


def _kill_one_actor() -> list[int]:
    for process in psutil.process_iter(["pid", "cmdline"]):
        if "MapWorker" in " ".join(process.info["cmdline"] or ()):
            os.kill(process.info["pid"], signal.SIGKILL)
            return [process.info["pid"]]
    return []


@pytest.fixture(scope="module")
def ray_cluster():
    # The workers inherit this process's environment when the cluster starts: the key goes first.
    os.environ.setdefault("OPENAI_API_KEY", "test-key-not-secret")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def clients(count: int = CLIENTS) -> pa.Table:
    return pa.table(
        {
            "client_id": pa.array(range(1, count + 1), pa.int32()),
            "first_name": [FIRST_NAMES[index % len(FIRST_NAMES)] for index in range(count)],
            "segment": ["basico", "intermediario", "alta_renda"] * (count // 3) + ["basico"] * (count % 3),
        }
    )


def settings_for(server: LLMServer, engine: str) -> Settings:
    return Settings(
        provider="openai",
        base_url=server.openai_url,
        timeout_seconds=5.0,
        max_retries=0,
        max_concurrency=8,
        campaigns=("christmas_gifts",),
        rounds=2,
        engine=engine,
        ray_actors=ACTORS,
    )


def run(server: LLMServer, engine: str, tmp: Path) -> tuple[pa.Table, dict]:
    """One generation run into a cache under `tmp`; its rows and its generation_log row."""
    connection = cache_connection(tmp)
    try:
        output = generate_missing(
            clients(), campaigns(), settings=settings_for(server, engine), connection=connection
        )
        log = connection.execute(
            "select * from llm_cache.main.generation_log order by finished_at desc limit 1"
        )
        row = dict(zip([column[0] for column in log.description], log.fetchone(), strict=True))
    finally:
        connection.close()
    return output, row


def comparable(output: pa.Table) -> list[dict]:
    rows = output.drop_columns(list(RUN_DEPENDENT)).to_pylist()
    return sorted(rows, key=lambda row: (row["client_id"], row["campaign_id"], row["round"]))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The in-process engine's run: what the Ray engine must reproduce."""
    with ContentAddressedServer(latency_ms=5, concurrency=16) as server:
        output, log = run(server, "threads", tmp_path_factory.mktemp("threads"))
    return output, log, server.requests


def test_the_setting_selects_the_ray_engine(ray_cluster):
    settings = Settings(provider="openai", base_url="http://127.0.0.1:9/v1", engine="ray", ray_actors=3)
    engine = build_engine(settings, build_provider(settings))
    assert isinstance(engine, RayEngine)
    # Eight calls in flight over three actors: three each.
    assert (engine.actors, engine.concurrency) == (3, 9)
    with pytest.raises(ValueError, match="engine must be one of .*ray"):
        Settings(engine="spark")


def test_ray_gives_the_in_process_outputs_and_a_rerun_calls_nothing(ray_cluster, reference, tmp_path):
    expected, expected_log, expected_requests = reference
    with ContentAddressedServer(latency_ms=5, concurrency=16) as server:
        output, log = run(server, "ray", tmp_path)
        assert comparable(output) == comparable(expected)
        assert output.num_rows == 2 * CLIENTS
        for count in ("model_calls", "ok", "rejected", "error", "served_from_cache"):
            assert log[count] == expected_log[count], count
        assert server.requests == expected_requests == log["model_calls"]

        rerun, rerun_log = run(server, "ray", tmp_path)
        assert server.requests == expected_requests
        assert rerun_log["model_calls"] == 0
        assert comparable(rerun) == [{**row, "is_cached": True} for row in comparable(expected)]


def test_a_worker_killed_mid_run_costs_only_its_calls_in_flight(ray_cluster, reference, tmp_path):
    expected, expected_log, expected_requests = reference
    with WorkerKillingServer(kill_at=60, latency_ms=5, concurrency=16) as server:
        output, log = run(server, "ray", tmp_path)
    assert server.killed, "no Ray actor process was found to kill"
    print("KILLDEBUG", server.requests, expected_requests)
    assert comparable(output) == comparable(expected)
    assert log["model_calls"] == expected_log["model_calls"]
    # The killed actor's batch went again to its replacement: sent twice, answered (and counted) once.
    batch = 4 * (8 // ACTORS)
    assert expected_requests <= server.requests <= expected_requests + batch
