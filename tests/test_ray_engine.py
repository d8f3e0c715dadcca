"""The Ray engine on a real local Ray cluster, against the loopback model server.

One cluster for the module (`ray.init` on this machine's cores; starting one takes seconds). The
server answers each request from a hash of its body, not from its arrival order, so two engines
sending the same requests in different orders get the same answers, and their outputs can be
compared row for row: same messages, statuses, attempts and call counts.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from python_udfs.generation import Settings, generate_missing
from python_udfs.generation.engines.ray_engine import RayEngine
from python_udfs.generation.execution import build_engine
from python_udfs.generation.providers import Completion, CompletionRequest, Prompt, build_provider
from python_udfs.generation.records import Call
from testkit.llm_server import DISTINCT_MESSAGES, LLMServer
from tests.generation_support import cache_connection, campaigns

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

# The cluster takes both cores, and two tests kill a process at a chosen request: one at a time.
pytestmark = [pytest.mark.slow, pytest.mark.timing_sensitive]

CLIENTS = 240
ACTORS = 4
FIRST_NAMES = ("Ana", "Bruno", "Carla", "Davi", "Elisa", "Fábio", "Gabi", "Heitor", "Iara", "Jonas")
# Columns that differ between two runs of the same input: when and how fast each answer came.
RUN_DEPENDENT = ("latency_ms", "generated_at")
_REQUEST_FIELDS = ("model", "messages", "temperature", "max_tokens", "seed")


class ContentAddressedServer(LLMServer):
    """Answers a request with the message its body's hash picks: the same request, the same answer."""

    def _admit(self, body: str, prompt: str) -> tuple[str | None, int]:
        super()._admit(body, prompt)
        # What the request asks, whichever client serialised it (sync and async SDKs differ).
        fields = json.loads(body)
        asked = json.dumps([fields.get(name) for name in _REQUEST_FIELDS], sort_keys=True)
        return None, int(hashlib.sha256(asked.encode()).hexdigest(), 16) % DISTINCT_MESSAGES


class WorkerKillingServer(ContentAddressedServer):
    """SIGKILLs the Ray actor process that sends the `kill_at`-th request, while it waits for it."""

    def __init__(self, kill_at: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.kill_at = kill_at
        self.killed: list[int] = []

    def _admit(self, body: str, prompt: str) -> tuple[str | None, int]:
        answer = super()._admit(body, prompt)
        if self.requests == self.kill_at:
            # The request handler calling this method knows the sender's port.
            handler = inspect.currentframe().f_back.f_locals["self"]
            self.killed = _kill_sender(handler.client_address[1])
        return answer


class DriverKillingServer(ContentAddressedServer):
    """SIGKILLs the run's driver process (`driver`, set once started) at the `kill_at`-th request."""

    def __init__(self, kill_at: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.kill_at = kill_at
        self.driver: subprocess.Popen | None = None

    def _admit(self, body: str, prompt: str) -> tuple[str | None, int]:
        answer = super()._admit(body, prompt)
        if self.requests == self.kill_at and self.driver is not None:
            self.driver.send_signal(signal.SIGKILL)
        return answer


# A Ray run in a process of its own, joining the test's cluster: argv = address, base URL, directory.
_DRIVER = """
import sys
from pathlib import Path
import ray
from tests.test_ray_engine import run
ray.init(address=sys.argv[1], log_to_driver=False)
run(sys.argv[2], "ray", Path(sys.argv[3]))
"""


def _actors_left() -> int:
    return sum("ProviderActor" in " ".join(p.info["cmdline"] or ()) for p in psutil.process_iter(["cmdline"]))


def _kill_sender(client_port: int) -> list[int]:
    """Kill the Ray actor process whose connection uses `client_port`; its pid, or [] if none."""
    for process in psutil.process_iter(["pid", "cmdline"]):
        if "ProviderActor" not in " ".join(process.info["cmdline"] or ()):
            continue
        try:
            ports = {connection.laddr.port for connection in process.net_connections(kind="tcp")}
        except psutil.Error:
            continue
        if client_port in ports:
            os.kill(process.info["pid"], signal.SIGKILL)
            return [process.info["pid"]]
    return []


@pytest.fixture(scope="module")
def ray_cluster():
    # The workers inherit this process's environment when the cluster starts: the key goes first.
    os.environ.setdefault("OPENAI_API_KEY", "test-key-not-secret")
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield context.address_info["address"]
    ray.shutdown()


def clients(count: int = CLIENTS) -> pa.Table:
    return pa.table(
        {
            "client_id": pa.array(range(1, count + 1), pa.int32()),
            "first_name": [FIRST_NAMES[index % len(FIRST_NAMES)] for index in range(count)],
            "segment": ["basico", "intermediario", "alta_renda"] * (count // 3) + ["basico"] * (count % 3),
        }
    )


def settings_for(server: LLMServer | str, engine: str) -> Settings:
    return Settings(
        provider="openai",
        base_url=server if isinstance(server, str) else server.openai_url,
        timeout_seconds=5.0,
        max_retries=0,
        max_concurrency=8,
        campaigns=("christmas_gifts",),
        rounds=2,
        engine=engine,
        ray_actors=ACTORS,
    )


def run(server: LLMServer | str, engine: str, tmp: Path) -> tuple[pa.Table, dict]:
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


def comparable(output: pa.Table, *also_ignored: str) -> list[dict]:
    rows = output.drop_columns([*RUN_DEPENDENT, *also_ignored]).to_pylist()
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
    with pytest.raises(ValueError, match=r"engine must be one of .*ray"):
        Settings(engine="spark")


def test_the_actors_start_once_and_answer_every_wave(ray_cluster, tmp_path):
    built_in = tmp_path / "providers_built_in"

    def provider_noting_its_process():
        with built_in.open("a") as log:
            log.write(f"{os.getpid()}\n")
        return build_provider(settings)

    with ContentAddressedServer(latency_ms=5, concurrency=16) as server:
        settings = settings_for(server, "ray")
        engine = RayEngine(
            settings, build_provider(settings), actors=2, provider_factory=provider_noting_its_process
        )
        try:
            # A first wave, then a regeneration wave smaller than one batch.
            waves = [range(40), range(40, 43)]
            answered = [list(engine.run(_calls(tags))) for tags in waves]
        finally:
            engine.close()
    assert [sorted(result.call.tag for result in wave) for wave in answered] == [list(tags) for tags in waves]
    assert all(isinstance(result.answer, Completion) for wave in answered for result in wave)
    assert server.requests == 43
    # One provider per actor, built when the engine started; the second wave started no process.
    processes = built_in.read_text().split()
    assert len(processes) == len(set(processes)) == 2


def _calls(tags: range) -> list[Call]:
    prompt = Prompt(system="Write one line.", user="Ana, basico")
    return [Call(tag, CompletionRequest(prompt, 0.7, 60, tag), key=str(tag), prompt_hash="") for tag in tags]


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
    assert server.killed, "the request's sender was not a Ray actor process"
    assert comparable(output) == comparable(expected)
    assert log["model_calls"] == expected_log["model_calls"]
    # The killed actor's unfinished blocks went again to its replacement: sent twice, answered (and
    # counted) once. A block is 4 calls per call in flight (8 over the actors), and an actor holds two:
    # the one it answers and the one queued behind it. Both may be re-sent: a block answered just
    # before the kill, whose reply had not reached the driver, runs again too (measured: 10 extra).
    block = 4 * (8 // ACTORS)
    assert expected_requests < server.requests <= expected_requests + 2 * block


def test_a_driver_killed_mid_run_keeps_what_it_received_and_the_rerun_asks_for_the_rest(
    ray_cluster, reference, tmp_path
):
    expected, _, expected_requests = reference
    kill_at = 150
    with DriverKillingServer(kill_at=kill_at, latency_ms=5, concurrency=16) as server:
        server.driver = subprocess.Popen(
            [sys.executable, "-c", _DRIVER, ray_cluster, server.openai_url, str(tmp_path)],
            cwd=Path(__file__).resolve().parents[1],
        )
        assert server.driver.wait(timeout=300) == -signal.SIGKILL
        # The dead driver's actors go with its job; none may still be calling when the re-run starts.
        # Ray notices a dead driver within seconds when idle, but took over a minute beside the other
        # pytest worker's builds: wait up to three.
        for _ in range(1800):
            if not _actors_left():
                break
            time.sleep(0.1)
        assert not _actors_left()
        connection = cache_connection(tmp_path)
        cached = connection.execute("select count(*) from llm_cache.main.responses").fetchone()[0]
        connection.close()
        sent_before_kill = server.requests
        output, log = run(server, "threads", tmp_path)
    # Lost: the batches the actors were answering and the answers Ray had not yet handed over; what
    # the driver had received is on disk.
    assert 0 < cached < kill_at
    # The re-run asks only for what was not cached, and ends exactly as an uninterrupted run.
    assert server.requests - sent_before_kill == log["model_calls"] == expected_requests - cached
    assert comparable(output, "is_cached") == comparable(expected, "is_cached")
