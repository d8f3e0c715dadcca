"""The async engine: the HTTP providers' async twins, driven on one event loop, behave as `complete`."""

from __future__ import annotations

import threading

import pytest

from python_udfs.errors import GenerationError, ProviderUnavailable, RateLimited
from python_udfs.generation import generate_missing
from python_udfs.generation.engines.async_http import AsyncEngine, supports_async
from python_udfs.generation.execution import ThreadEngine, build_engine
from python_udfs.generation.prompts import MessageContext, render_prompt
from python_udfs.generation.providers.base import CompletionRequest
from python_udfs.generation.providers.ollama import OllamaProvider
from python_udfs.generation.providers.openai import OpenAIProvider, _status_error, _worth_retrying
from python_udfs.generation.records import Call
from python_udfs.generation.settings import Settings
from testkit.llm_server import LLMServer
from tests.generation_support import cache_connection, campaigns, demo_clients


def _request(name: str = "Maria") -> CompletionRequest:
    context = MessageContext("christmas_gifts", "Sugira presentes de Natal.", 160, name)
    return CompletionRequest(render_prompt(context, "chat"), temperature=0.8, max_tokens=60, seed=7)


def _openai(server: LLMServer, retries: int = 0, timeout: float = 2.0) -> OpenAIProvider:
    return OpenAIProvider("fake", server.openai_url, timeout=timeout, max_retries=retries)


def _ollama(server: LLMServer, retries: int = 0, timeout: float = 2.0) -> OllamaProvider:
    return OllamaProvider("fake", server.url, timeout=timeout, max_retries=retries, backoff_seconds=0.01)


def _run(provider, requests: list[CompletionRequest], concurrency: int = 4) -> list:
    engine = AsyncEngine(provider, concurrency)
    try:
        results = list(
            engine.run(Call(tag, request, f"key-{tag}", "hash") for tag, request in enumerate(requests))
        )
    finally:
        engine.close()
    return sorted(results, key=lambda result: result.call.tag)


class _InProcessModel:
    """A provider with no async twin, as the embedded model is."""

    name, model, style, max_parallel, request_counter = "local", "fake", "chat", 1, None

    def complete(self, request):
        raise AssertionError("not called here")


@pytest.fixture
def server():
    with LLMServer() as running:
        yield running


@pytest.mark.slow
@pytest.mark.parametrize("make", [_openai, _ollama], ids=["openai", "ollama"])
def test_every_call_is_answered_once_with_its_own_request(server, make):
    names = ["Ana", "Bruno", "Carla", "Davi", "Elisa", "Fábio", "Gabi", "Hugo", "Iara", "João"]
    results = _run(make(server), [_request(name) for name in names])
    assert [result.call.tag for result in results] == list(range(len(names)))
    assert [result.answer.text.split(",")[0] for result in results] == names
    assert all(result.answer.prompt_tokens > 0 and result.answer.completion_tokens > 0 for result in results)
    assert [result.http_requests for result in results] == [1] * len(names)
    assert server.requests == len(names)


@pytest.mark.slow
@pytest.mark.parametrize("make", [_openai, _ollama], ids=["openai", "ollama"])
@pytest.mark.parametrize(
    ("fault", "error", "reason"),
    [
        ("500", ProviderUnavailable, "server_error"),
        ("429", RateLimited, "rate_limited"),
        ("hang", ProviderUnavailable, "timeout"),
        ("drop", ProviderUnavailable, "connection"),
        ("malformed", GenerationError, "bad_response"),
    ],
)
def test_faults_become_the_same_errors_as_the_blocking_call(server, make, fault, error, reason):
    server.set_faults(1.0, (fault,))
    server.hang_seconds = 1.5
    [result] = _run(make(server, timeout=0.5), [_request()])
    assert isinstance(result.answer, error)
    assert result.answer.reason == reason


@pytest.mark.slow
@pytest.mark.parametrize("make", [_openai, _ollama], ids=["openai", "ollama"])
def test_retries_are_bounded_and_each_http_request_is_counted(server, make):
    server.set_faults(1.0, ("503",))
    [failed] = _run(make(server, retries=2), [_request()])
    assert isinstance(failed.answer, ProviderUnavailable)
    assert failed.http_requests == server.requests == 3  # one try and two retries: one retry layer
    server.set_faults(0.0)
    [answered] = _run(make(server, retries=2), [_request()])
    assert answered.answer.text.startswith("Maria") and answered.http_requests == 1


@pytest.mark.slow
def test_openai_reads_retry_after(server):
    server.set_faults(1.0, ("429_retry_after",))
    server.retry_after = 7
    [result] = _run(_openai(server), [_request()])
    assert isinstance(result.answer, RateLimited) and result.answer.retry_after == 7


def test_statuses_map_as_the_sdk_does_and_a_rejected_key_is_not_retried():
    assert _status_error(401, None).reason == "authentication"
    assert not _worth_retrying(_status_error(401, None))
    assert _status_error(429, "3").retry_after == 3 and _worth_retrying(_status_error(429, "3"))
    assert _status_error(503, None).reason == "server_error" and _worth_retrying(_status_error(503, None))
    assert _status_error(400, None).reason == "http_error" and not _worth_retrying(_status_error(400, None))


def test_auto_picks_async_for_http_providers_and_threads_for_the_rest():
    openai_settings = Settings(provider="openai", base_url="http://127.0.0.1:9/v1")
    http = OpenAIProvider("fake", openai_settings.base_url, timeout=1, max_retries=0)
    in_process = _InProcessModel()
    assert supports_async(http) and not supports_async(in_process)
    chosen = [
        build_engine(openai_settings, http),
        build_engine(Settings(provider="openai", engine="threads"), http),
        build_engine(Settings(provider="openai"), in_process),
    ]
    try:
        assert [type(engine) for engine in chosen] == [AsyncEngine, ThreadEngine, ThreadEngine]
    finally:
        for engine in chosen:
            engine.close()
    with pytest.raises(GenerationError, match="engine 'async' needs an HTTP provider"):
        build_engine(Settings(engine="async"), in_process)


@pytest.mark.slow
def test_a_run_on_either_engine_plans_the_same_requests_and_a_rerun_calls_nothing(server, tmp_path):
    order = [("campaign_id", "ascending"), ("client_id", "ascending"), ("round", "ascending")]
    rows = {}
    for engine in ("threads", "async"):
        settings = Settings(provider="openai", base_url=server.openai_url, engine=engine)
        (tmp_path / engine).mkdir()
        connection = cache_connection(tmp_path / engine)
        first = generate_missing(demo_clients(), campaigns(), settings=settings, connection=connection)
        before = server.requests
        again = generate_missing(demo_clients(), campaigns(), settings=settings, connection=connection)
        assert server.requests == before  # every answer was cached as it arrived
        assert again.sort_by(order).column("message") == first.sort_by(order).column("message")
        rows[engine] = first.sort_by(order)
    assert rows["async"].num_rows == rows["threads"].num_rows > 0
    for column in ("client_id", "campaign_id", "round", "prompt_hash", "status"):
        assert rows["async"].column(column) == rows["threads"].column(column)


@pytest.mark.slow
def test_closing_with_cancel_drops_the_calls_in_flight(server):
    server.latency_ms = 5_000
    engine = AsyncEngine(_openai(server, timeout=30), concurrency=2)
    received = []

    def consume() -> None:
        try:
            received.extend(engine.run(Call(tag, _request(), f"key-{tag}", "hash") for tag in range(4)))
        except BaseException as stopped:  # the cancelled wave ends the iteration with an error
            received.append(stopped)

    consumer = threading.Thread(target=consume)
    consumer.start()
    while server.requests < 2:  # both slots hold a call the server is sitting on
        consumer.join(0.05)
    engine.close(cancel=True)
    consumer.join(10)
    assert not consumer.is_alive() and not engine._thread.is_alive() and engine._loop.is_closed()
    assert not any(hasattr(result, "answer") for result in received)  # no answer came back
