"""Providers against a real HTTP server on loopback: testkit's fake one (llama.cpp's real one is in
tests/embedded/)."""

from __future__ import annotations

import pytest

from python_udfs.errors import GenerationError, ProviderUnavailable, RateLimited
from python_udfs.generation import (
    CompletionRequest,
    MessageContext,
    render_prompt,
)
from python_udfs.generation.providers.ollama import OllamaProvider
from python_udfs.generation.providers.openai import OpenAIProvider
from testkit.llm_server import LLMServer


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
