"""`dbt build` end to end with the openai provider pointed at testkit's server: counts at the server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import duckdb
import pytest

from testkit.llm_server import LLMServer
from tests.reliability_support import DBT, NO_DATA_TESTS, PROJECT, project_env, run_dbt, run_dir

# Built at run time: the committed file holds nothing shaped like a key.
FAKE_KEY = "sk-" + "test-GENERATION-fake-key-0123456789abcdef"


def _env(tmp_path, server, **extra):
    (tmp_path / "exports").mkdir(exist_ok=True)
    settings = {
        "MARKETING_PROVIDER": "openai",
        "OPENAI_BASE_URL": server.openai_url,
        "OPENAI_API_KEY": FAKE_KEY,
        "MARKETING_TIMEOUT_SECONDS": "5",
        "MARKETING_MAX_RETRIES": "0",
        "MARKETING_MAX_CONCURRENCY": "4",
    }
    return project_env(tmp_path, **{**settings, **extra})


def _rows(tmp_path):
    with duckdb.connect(str(tmp_path / "marketing.duckdb"), read_only=True) as connection:
        return connection.execute(
            "select client_id, campaign_id, round, status, message from marketing_messages order by all"
        ).fetchall()


def _check(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.slow
def test_build_reruns_rounds_and_one_client(tmp_path):
    with LLMServer() as server:
        env = _env(tmp_path, server, MARKETING_CAMPAIGNS="christmas_gifts")
        # Seeds and every model, exports included; the data tests run in `make dbt-test` and the
        # shared builds.
        _check(run_dbt(["build", *NO_DATA_TESTS], env))
        assert server.requests == 6
        assert {row[3] for row in _rows(tmp_path)} == {"ok"}

        _check(run_dbt(["run", "--select", "marketing_messages"], env))
        assert server.requests == 6  # unchanged re-run: zero calls

        # A new round, asked for in the environment: the offers and the messages read it as they run.
        _check(
            run_dbt(
                ["run", "--select", "campaign_offers", "marketing_messages"], {**env, "MARKETING_ROUNDS": "2"}
            )
        )
        assert server.requests == 12  # one call per client
        with duckdb.connect(str(tmp_path / "marketing.duckdb"), read_only=True) as connection:
            assert connection.execute("select max(round) from campaign_offers").fetchone() == (2,)

        vars_ = "{generation_rounds: 3, generation_only_client_ids: [1]}"
        _check(run_dbt(["run", "--select", "marketing_messages", "--vars", vars_], env))
        assert server.requests == 13  # one client: one call
        assert len(_rows(tmp_path)) == 13

        full_refresh = ["run", "--select", "marketing_messages", "--full-refresh"]
        _check(run_dbt(full_refresh, {**env, "MARKETING_ROUNDS": "2"}))
        assert server.requests == 13  # full refresh: everything from the cache
        assert len(_rows(tmp_path)) == 12  # what the settings ask for now (client 1's round 3 stays cached)

        exported = json.loads((tmp_path / "exports" / "crm_export.json").read_text())
        assert len(exported) == 6
        assert exported[0]["messages"][0]["campaign_id"] == "welcome"
        with duckdb.connect(str(tmp_path / "llm_cache.duckdb"), read_only=True) as cache:
            calls = cache.execute("select model_calls from generation_log order by started_at").fetchall()
        assert [row[0] for row in calls] == [6, 0, 6, 1, 0]

        # Nothing the server saw holds a CPF of the seed, and the key is nowhere on disk.
        seed_cpfs = [
            line.split(",")[-1]
            for line in (PROJECT / "seeds" / "raw_clients.csv").read_text().splitlines()[1:]
        ]
        for body in server.bodies:
            assert not [cpf for cpf in seed_cpfs if cpf and cpf in body]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_a_message_without_its_client_or_its_first_name_fails_its_data_test(tmp_path):
    with LLMServer() as server:
        env = _env(tmp_path, server, MARKETING_CAMPAIGNS="christmas_gifts")
        _check(run_dbt(["build", "--select", "+marketing_messages", *NO_DATA_TESTS], env))
    ok_names = ["test", "--select", "marketing_messages_belong_to_their_client"]
    _check(run_dbt(ok_names, env))
    with duckdb.connect(str(tmp_path / "marketing.duckdb")) as connection:
        (first_id, first_name), (second_id, second_name), (third_id, _) = connection.execute(
            "select client_id, first_name from clients order by client_id limit 3"
        ).fetchall()
        rename = (
            "update marketing_messages set message = replace(message, $name, $replacement) "
            "where client_id = $id"
        )
        # The name gone from one message; in capitals in another, which still greets the client.
        connection.execute(rename, {"name": first_name, "replacement": "Cliente", "id": first_id})
        connection.execute(rename, {"name": second_name, "replacement": second_name.upper(), "id": second_id})
        # A client gone from `clients` with its message still there.
        connection.execute("delete from clients where client_id = ?", [third_id])
    result = run_dbt(ok_names, env)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "FAIL 2 marketing_messages_belong_to_their_client" in result.stdout
    failing = re.findall(r"marketing_messages_belong_to_their_client failing row: (.*)", result.stdout)
    assert sorted((row.split(",")[0], row.split("problem=")[1]) for row in failing) == [
        (f"client_id={first_id}", "does_not_greet_the_client"),
        (f"client_id={third_id}", "not_a_client"),
    ], result.stdout[-3000:]


@pytest.mark.slow
@pytest.mark.timing_sensitive
def test_a_killed_build_resumes_with_only_the_unanswered_rows(tmp_path):
    with LLMServer(latency_ms=300, concurrency=1) as server:
        env = _env(tmp_path, server, MARKETING_MAX_CONCURRENCY="1")
        inputs = [
            "build",
            "--select",
            "+clients",
            "+stg_marketing__campaigns",
            "+campaign_offers",
            "--resource-type",
            "seed",
            "--resource-type",
            "model",
        ]
        _check(run_dbt(inputs, env))
        process = subprocess.Popen(
            [str(DBT), "run", "--select", "marketing_messages"],
            cwd=run_dir(env),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        # One request at a time: when the sixth arrives, at least four answers were received and cached.
        while server.requests < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        asked_before = server.requests
        with duckdb.connect(str(tmp_path / "llm_cache.duckdb"), read_only=True) as cache:
            cached = cache.execute("select count(*) from responses").fetchone()[0]
        assert 4 <= cached < 12

        _check(run_dbt(["run", "--select", "marketing_messages"], env))
        assert server.requests - asked_before == 12 - cached  # only the rows never answered
        rows = _rows(tmp_path)
        assert len(rows) == len({row[:3] for row in rows}) == 12


@pytest.fixture(autouse=True)
def _no_leftover_env(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
