"""Providers against real HTTP servers on loopback: testkit's fake one and llama.cpp's real one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from python_udfs.errors import GenerationError, ProviderUnavailable, RateLimited
from python_udfs.generation import (
    CompletionRequest,
    MessageContext,
    Settings,
    generate_missing,
    render_prompt,
)
from python_udfs.generation.providers.ollama import OllamaProvider
from python_udfs.generation.providers.openai import OpenAIProvider
from testkit.llm_server import LLMServer
from tests.generation_support import cache_connection, campaigns, demo_clients


def _request(style: str = "chat") -> CompletionRequest:
    context = MessageContext("christmas_gifts", "Sugira presentes de Natal.", 160, "Maria")
    return CompletionRequest(render_prompt(context, style), temperature=0.8, max_tokens=60, seed=7)


def _openai(server: LLMServer, retries: int = 0, timeout: float = 2.0) -> OpenAIProvider:
    return OpenAIProvider("fake", server.openai_url, timeout=timeout, max_retries=retries)


def _ollama(server: LLMServer, retries: int = 0, timeout: float = 2.0) -> OllamaProvider:
    return OllamaProvider("fake", server.url, timeout=timeout, max_retries=retries, backoff_seconds=0.01)


@pytest.fixture
def server():
    with LLMServer() as running:
        yield running


@pytest.mark.parametrize("make", [_openai, _ollama], ids=["openai", "ollama"])
def test_a_normal_answer_with_usage(server, make):
    completion = make(server).complete(_request())
    assert completion.text.startswith("Maria, ")
    assert completion.prompt_tokens > 0 and completion.completion_tokens > 0
    assert completion.latency_ms > 0
    assert server.requests == 1


@pytest.mark.parametrize("make", [_openai, _ollama], ids=["openai", "ollama"])
@pytest.mark.parametrize(
    ("fault", "error", "reason"),
    [
        ("500", ProviderUnavailable, "server_error"),
        ("503", ProviderUnavailable, "server_error"),
        ("429", RateLimited, "rate_limited"),
        ("hang", ProviderUnavailable, "timeout"),
        ("drop", ProviderUnavailable, "connection"),
        ("malformed", GenerationError, "bad_response"),
    ],
)
def test_faults_map_to_the_error_classes(server, make, fault, error, reason):
    server.set_faults(1.0, (fault,))
    server.hang_seconds = 1.5
    with pytest.raises(error) as raised:
        make(server, timeout=0.5).complete(_request())
    assert raised.value.reason == reason


@pytest.mark.parametrize("make", [_openai, _ollama], ids=["openai", "ollama"])
def test_retries_are_bounded_and_succeed_when_the_fault_clears(server, make):
    server.set_faults(1.0, ("503",))
    with pytest.raises(ProviderUnavailable):
        make(server, retries=2).complete(_request())
    assert server.requests == 3  # one try and two retries: a single retry layer
    server.set_faults(0.0)
    assert make(server, retries=2).complete(_request()).text.startswith("Maria")


def test_retry_after_is_read(server):
    server.set_faults(1.0, ("429_retry_after",))
    server.retry_after = 7
    with pytest.raises(RateLimited) as raised:
        _ollama(server).complete(_request())
    assert raised.value.retry_after == 7


def test_openai_without_key_or_base_url_says_what_to_set(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ProviderUnavailable, match="OPENAI_API_KEY"):
        OpenAIProvider("gpt-4o-mini", None, timeout=1, max_retries=0)


# -- the real thing: llama.cpp's OpenAI-compatible server with the packaged Gemma 3 270M -----------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    from python_udfs.generation.providers.local import default_gguf_path

    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            default_gguf_path(),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "1024",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=1).read()
            break
        except OSError:
            time.sleep(0.25)
    else:
        process.kill()
        pytest.fail("llama_cpp.server did not start")
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.alone
def test_openai_provider_end_to_end_against_llama_cpp_server(llama_server, tmp_path, monkeypatch):
    """Real HTTP, real model, real cache: two clients, then a re-run that calls nothing.

    Gemma 3 270M is a base model without a chat template, so its chat answers are often rejected:
    what this proves is the protocol and the bookkeeping, not the prose (the `local` provider uses
    few-shot completion for that reason).
    """
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = Settings(
        provider="openai",
        model="gemma",
        base_url=llama_server,
        timeout_seconds=60,
        max_retries=0,
        max_concurrency=1,
        max_regenerations=0,
        max_failure_share=1.0,
        max_tokens=40,
        campaigns=("christmas_gifts",),
    )
    connection = cache_connection(tmp_path)
    first = generate_missing(demo_clients(2), campaigns(), None, settings, connection=connection)
    assert first.num_rows == 2
    assert set(first.column("status").to_pylist()) <= {"ok", "rejected"}
    assert all(reason is None or reason for reason in first.column("error_reason").to_pylist())
    assert sum(first.column("completion_tokens").to_pylist()) > 0
    again = generate_missing(demo_clients(2), campaigns(), None, settings, connection=connection)
    assert again.column("is_cached").to_pylist() == [True, True]
    calls = connection.execute(
        "select model_calls from llm_cache.main.generation_log order by started_at"
    ).fetchall()
    assert [row[0] for row in calls] == [2, 0]
    assert os.environ.get("OPENAI_API_KEY") is None


@pytest.mark.parametrize("make", [_openai, _ollama], ids=["openai", "ollama"])
def test_every_http_request_of_a_call_is_counted_retries_included(server, make):
    provider = make(server, retries=2)
    server.set_faults(1.0, ("503",))
    provider.request_counter.reset()
    with pytest.raises(ProviderUnavailable):
        provider.complete(_request())
    assert provider.request_counter.count == server.requests == 3
    server.set_faults(0.0)
    provider.request_counter.reset()
    provider.complete(_request())
    assert provider.request_counter.count == 1
