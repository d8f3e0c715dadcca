"""The embedded model (Gemma 3 270M through llama.cpp), for real: in the pipeline, and behind llama.cpp's
OpenAI-compatible server.

`make pytest` runs this folder by itself, after the other tests: llama.cpp slows 10 to 50 times when
anything else competes for the two cores. A test marked `alone` must live here (tests/conftest.py
stops the collection otherwise): the second lane collects only this folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from evaluation.run import run_pipeline
from python_udfs.generation import Settings, generate_missing
from python_udfs.generation.validation import validate_message
from tests.generation_support import cache_connection, campaigns, demo_clients

pytestmark = [pytest.mark.slow, pytest.mark.alone]


# -- a handful of clients through the real pipeline ------------------------------------------------


def test_a_handful_of_clients_through_the_pipeline_follow_its_rules(tmp_path):
    result = run_pipeline(tmp_path, client_ids=(1001, 1002, 1005, 1009))
    assert result["messages"] == 8 and result["providers"] == ["local"]
    assert result["final_ok_share"] > 0.5  # the model's own failure threshold
    for row in result["not_ok"]:
        assert row["status"] in ("rejected", "error") and row["reason"]
    for item in result["ok_messages"]:
        message, offer = item["message"], item["offer"]
        assert offer and offer in message  # the base model finishes a line that opens with the offer
        assert validate_message(message, message.split(",")[0], 160, offer) is None


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
