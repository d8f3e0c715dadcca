"""A build killed (SIGKILL) or interrupted (Ctrl-C) mid-generation resumes cleanly.

A slow loopback server keeps generation going long enough to stop it half-way. The re-run must ask
the server only for the rows whose answer never reached the cache, keep every answer that did, and
write each (client, campaign, round) once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from testkit.llm_server import LLMServer
from tests.reliability_support import (
    DBT,
    NO_DATA_TESTS,
    csv_env,
    csv_vars,
    llm_env,
    pii_findings,
    run_dbt,
    run_dir,
    run_pipeline,
    write_clients,
)

# Whole dbt builds, subprocesses or loopback servers: outside the fast lane. Each stops a run after a
# number of answers: one at a time under xdist.
pytestmark = [pytest.mark.slow, pytest.mark.timing_sensitive]
# The builds here run seeds and models only: what is checked is the rows and the calls, and the data
# tests, which run in the project's own builds, would only delay the generation to be stopped.

CLIENTS = 20
STOP_AFTER_ANSWERS = 12
SIGINT_BOUND_SECONDS = 20


@contextlib.contextmanager
def sigint_as_in_a_terminal():
    """Processes started inside get SIGINT as a terminal's foreground job does, at its default.

    A shell starts a background job (`make test &`) with SIGINT ignored, and every process below
    inherits that: the pipeline would never see the Ctrl-C this test sends. A handled signal is
    reset to its default in the processes started meanwhile.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def wait_for_answers(server: LLMServer, process: subprocess.Popen, count: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while server.answered < count:
        assert process.poll() is None, "the build ended before it could be stopped: make the server slower"
        assert time.monotonic() < deadline, f"only {server.answered} answers after {timeout}s"
        time.sleep(0.05)


def cached_texts(cache_file: Path) -> list[str]:
    with duckdb.connect(str(cache_file), read_only=True) as connection:
        return [row[0] for row in connection.execute("select text from responses").fetchall()]


def table_rows(db_file: Path) -> list[tuple]:
    with duckdb.connect(str(db_file), read_only=True) as connection:
        return connection.execute(
            "select client_id, campaign_id, round, status, message from marketing_messages"
        ).fetchall()


def expected_rows(db_file: Path) -> int:
    with duckdb.connect(str(db_file), read_only=True) as connection:
        (clients,) = connection.execute(
            "select count(*) from clients where first_name is not null"
        ).fetchone()
    return clients * 2  # two generated campaigns


def check_resumed(tmp: Path, cached_before: list[str], rerun_requests: int) -> None:
    rows = table_rows(tmp / "marketing.duckdb")
    total = expected_rows(tmp / "marketing.duckdb")
    assert len(rows) == total
    assert len({row[:3] for row in rows}) == total, "a (client, campaign, round) was written twice"
    assert all(row[3] == "ok" for row in rows)
    messages = [row[4] for row in rows]
    assert len(set(messages)) == total, "a message was written twice"
    # Every answer received before the stop is in the table, none thrown away and asked again.
    assert set(cached_before) <= set(messages)
    assert rerun_requests == total - len(set(cached_before))


@pytest.fixture
def project(tmp_path):
    (tmp_path / "exports").mkdir()
    clients_csv, accounts_csv, clients = write_clients(tmp_path / "imports", CLIENTS)
    return tmp_path, csv_env(clients_csv, accounts_csv), clients


def test_sigkill_of_dbt_build_mid_generation_resumes_without_losing_or_repeating(project):
    tmp, files, clients = project
    with LLMServer(latency_ms=300, concurrency=2) as server:
        env = llm_env(tmp, server.openai_url, MARKETING_MAX_CONCURRENCY="2", **files)
        build = subprocess.Popen(
            [str(DBT), "build", *csv_vars(), *NO_DATA_TESTS],
            cwd=run_dir(env),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_answers(server, build, STOP_AFTER_ANSWERS)
        finally:
            build.send_signal(signal.SIGKILL)
            build.wait(timeout=30)
        answered_before_kill = server.answered
        cached_before = cached_texts(tmp / "llm_cache.duckdb")
        server.latency_ms = 0
        before = server.requests
        rerun = run_dbt(["build", *csv_vars(), *NO_DATA_TESTS], env)
        rerun_requests = server.requests - before
        leaks = [found for body in server.bodies if (found := pii_findings(body, clients))]
    print(
        f"SIGKILL: {answered_before_kill} answers sent before the kill, {len(cached_before)} cached, "
        f"re-run asked {rerun_requests}"
    )
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert len(cached_before) >= answered_before_kill - 2 * 2, "more than the in-flight answers were lost"
    check_resumed(tmp, cached_before, rerun_requests)
    assert leaks == []


def test_ctrl_c_stops_the_pipeline_promptly_and_the_rerun_resumes(project):
    tmp, files, clients = project
    with LLMServer(latency_ms=300, concurrency=2) as server:
        env = llm_env(tmp, server.openai_url, MARKETING_MAX_CONCURRENCY="2", **files)
        command = [
            sys.executable,
            "-m",
            "python_udfs.pipeline",
            "--no-show",
            "--",
            *csv_vars(),
            *NO_DATA_TESTS,
        ]
        # Its own process group, like a terminal's foreground job: Ctrl-C reaches the pipeline and dbt.
        with sigint_as_in_a_terminal():
            pipeline = subprocess.Popen(
                command,
                cwd=run_dir(env),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        try:
            wait_for_answers(server, pipeline, STOP_AFTER_ANSWERS)
            interrupted_at = time.monotonic()
            os.killpg(pipeline.pid, signal.SIGINT)
            try:
                _, stderr = pipeline.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(pipeline.pid, signal.SIGKILL)
                _, stderr = pipeline.communicate()
            seconds = time.monotonic() - interrupted_at
        finally:
            if pipeline.poll() is None:
                os.killpg(pipeline.pid, signal.SIGKILL)
        answered_before = server.answered
        cached_before = cached_texts(tmp / "llm_cache.duckdb")
        server.latency_ms = 0
        before = server.requests
        rerun = run_pipeline(["--no-show", "--", *csv_vars(), *NO_DATA_TESTS], env)
        rerun_requests = server.requests - before
        leaks = [found for body in server.bodies if (found := pii_findings(body, clients))]
    print(
        f"SIGINT: exited {pipeline.returncode} {seconds:.1f}s after Ctrl-C; {answered_before} answers sent, "
        f"{len(cached_before)} cached, re-run asked {rerun_requests}; last lines: {stderr.strip()[-300:]!r}"
    )
    assert seconds < SIGINT_BOUND_SECONDS
    assert rerun_requests > 0, "Ctrl-C did not stop the generation: it ran on to its last client"
    assert pipeline.returncode != 0
    assert "Traceback" not in stderr
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    check_resumed(tmp, cached_before, rerun_requests)
    assert leaks == []
