"""A model server that fails a share of requests in every way it can.

Most of the volume goes through the runner API (`generate_missing`, what the dbt model calls), which
is much faster than dbt; one sequence of real `dbt build`s proves the same through dbt.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter

import duckdb
import pyarrow as pa
import pytest

from python_udfs.errors import TooManyFailures
from python_udfs.generation import Settings, generate_missing
from testkit.llm_server import FAULTS, LLMServer
from tests.reliability_support import (
    NO_DATA_TESTS,
    PROJECT,
    csv_env,
    csv_vars,
    llm_env,
    pii_findings,
    run_dbt,
    write_clients,
)

# Whole dbt builds, subprocesses or loopback servers: outside the fast lane.
pytestmark = pytest.mark.slow

CLIENT_COUNT = 500
FAULT_SHARE = 0.2
MAX_RETRIES = 1  # HTTP retries per call (the SDK's), on top of the first try
MAX_REGENERATIONS = 2  # new requests for a rejected answer
SYLLABLES = ("ma", "ri", "na", "lo", "be", "ta", "ju", "ca")


def unique_names(count: int) -> list[str]:
    """One-word first names, all different, so a request body tells which client it was for."""
    return ["".join(parts).capitalize() for parts in itertools.product(SYLLABLES, repeat=3)][:count]


def clients_table(count: int) -> pa.Table:
    return pa.table(
        {
            "client_id": pa.array(range(1, count + 1), pa.int32()),
            "first_name": unique_names(count),
            "segment": ["basico"] * count,
        }
    )


def campaigns_table() -> pa.Table:
    with duckdb.connect() as connection:
        return connection.execute(
            "select * from read_csv(?, all_varchar = false)", [str(PROJECT / "seeds" / "campaigns.csv")]
        ).fetch_arrow_table()


def settings_for(server: LLMServer, **overrides) -> Settings:
    values = {
        "provider": "openai",
        "base_url": server.openai_url,
        "timeout_seconds": 1.0,
        "max_retries": MAX_RETRIES,
        "max_concurrency": 8,
        "max_regenerations": MAX_REGENERATIONS,
        "campaigns": ("christmas_gifts",),
        **overrides,
    }
    return Settings(**values)


def asked_names(bodies: list[str]) -> Counter:
    """How many requests named each client."""
    names = Counter()
    for raw in bodies:
        user = json.loads(raw)["messages"][-1]["content"]
        names.update(re.findall(r"Primeiro nome do cliente: «([^»]*)»", user))
    return names


def merged(existing: pa.Table, new: pa.Table) -> pa.Table:
    """What dbt's delete+insert on (client_id, campaign_id, round) leaves."""
    with duckdb.connect() as connection:
        connection.register("existing", existing)
        connection.register("new", new)
        return connection.execute(
            """
            select * from existing
            anti join new using (client_id, campaign_id, round)
            union all by name
            select * from new
            """
        ).fetch_arrow_table()


@pytest.fixture(scope="module")
def faulty_runs(tmp_path_factory):
    """500 clients with 20% of requests failing in every mode; then the same with the faults gone."""
    tmp = tmp_path_factory.mktemp("faults")
    connection = duckdb.connect()
    connection.execute(f"attach '{tmp / 'llm_cache.duckdb'}' as llm_cache")
    clients, campaigns = clients_table(CLIENT_COUNT), campaigns_table()
    with LLMServer(fault_share=FAULT_SHARE, hang_seconds=2.0, retry_after=0.2, concurrency=32) as server:
        first = generate_missing(clients, campaigns, None, settings_for(server), connection=connection)
        first_requests, first_bodies = server.requests, list(server.bodies)
        faults_served = dict(server.faults_served)
        server.set_faults(0.0)
        second = generate_missing(clients, campaigns, first, settings_for(server), connection=connection)
        second_bodies = server.bodies[first_requests:]
    log = (
        connection.execute("select * from llm_cache.main.generation_log order by started_at")
        .fetch_arrow_table()
        .to_pylist()
    )
    connection.close()
    return {
        "first": first.to_pylist(),
        "second": second.to_pylist(),
        "final": merged(first, second).to_pylist(),
        "first_requests": first_requests,
        "first_bodies": first_bodies,
        "second_bodies": second_bodies,
        "faults_served": faults_served,
        "log": log,
    }


def test_every_fault_mode_was_served(faulty_runs):
    served = faulty_runs["faults_served"]
    print(f"faults served: {served}")
    assert set(served) == set(FAULTS)
    share = sum(served.values()) / faulty_runs["first_requests"]
    assert 0.15 < share < 0.25


def test_every_row_is_ok_or_failed_with_a_reason_and_none_is_duplicated(faulty_runs):
    rows = faulty_runs["first"]
    keys = Counter((r["client_id"], r["campaign_id"], r["round"]) for r in rows)
    assert len(keys) == CLIENT_COUNT and max(keys.values()) == 1
    statuses = Counter(r["status"] for r in rows)
    reasons = Counter(r["error_reason"].split(":")[0] for r in rows if r["status"] != "ok")
    print(f"first run: {dict(statuses)}; reasons: {dict(reasons)}")
    assert set(statuses) <= {"ok", "error", "rejected"}
    for row in rows:
        if row["status"] == "ok":
            assert row["message"] and row["error_reason"] is None
        else:
            assert row["message"] is None and row["error_reason"], row
    assert statuses["ok"] > CLIENT_COUNT * 0.8, "with 20% faults, retries and regeneration most rows end ok"
    ok_messages = [r["message"] for r in rows if r["status"] == "ok"]
    assert len(set(ok_messages)) == len(ok_messages), "no message is sent twice"
    assert not any(re.search(r"https?://|check out", m) for m in ok_messages), "bad answers never end ok"


def test_retries_and_regenerations_are_bounded(faulty_runs):
    rows, log = faulty_runs["first"], faulty_runs["log"][0]
    assert max(r["attempts"] for r in rows) <= MAX_REGENERATIONS + 1
    requests = faulty_runs["first_requests"]
    print(
        f"first run: {requests} HTTP requests for {log['model_calls']} model calls "
        f"({requests - log['model_calls']} HTTP retries), attempts {Counter(r['attempts'] for r in rows)}"
    )
    assert log["model_calls"] <= CLIENT_COUNT * (MAX_REGENERATIONS + 1)
    assert requests <= log["model_calls"] * (MAX_RETRIES + 1)
    # No client was asked for more than its bound, whatever failed.
    per_client = asked_names(faulty_runs["first_bodies"])
    assert max(per_client.values()) <= (MAX_REGENERATIONS + 1) * (MAX_RETRIES + 1)


def test_every_http_request_is_counted_in_the_run_ledger(faulty_runs):
    """The ledger must account for the HTTP retries too, not only the calls that finished."""
    log = faulty_runs["log"][0]
    retry_columns = [name for name in log if "retr" in name]
    assert retry_columns, f"generation_log has no retry count; its columns: {sorted(log)}"
    assert log["model_calls"] + log[retry_columns[0]] == faulty_runs["first_requests"]


def test_the_rerun_asks_only_for_the_failed_rows_and_completes_them(faulty_runs):
    first, second = faulty_runs["first"], faulty_runs["second"]
    names = dict(zip(range(1, CLIENT_COUNT + 1), unique_names(CLIENT_COUNT), strict=True))
    failed = {names[r["client_id"]] for r in first if r["status"] != "ok"}
    errored = {names[r["client_id"]] for r in first if r["status"] == "error"}
    asked = asked_names(faulty_runs["second_bodies"])
    statuses = dict(Counter(r["status"] for r in second))
    print(f"re-run: {len(failed)} failed rows, {sum(asked.values())} requests, {statuses}")
    assert set(asked) <= failed, "the re-run asked for rows that were already ok"
    assert {names[r["client_id"]] for r in second} == failed, "the re-run returns exactly the failed rows"
    assert errored <= set(asked), "every row that got no answer is asked again"
    assert all(r["status"] == "ok" for r in second if names[r["client_id"]] in errored)
    final = faulty_runs["final"]
    assert len(final) == CLIENT_COUNT
    assert len({(r["client_id"], r["campaign_id"], r["round"]) for r in final}) == CLIENT_COUNT


def test_a_row_rejected_at_every_attempt_is_completed_once_the_faults_stop(tmp_path):
    """A wrong-language answer at every attempt; then a healthy server: the re-run must fix the row.

    Replaying the cached bad answers would leave it rejected for ever.
    """
    connection = duckdb.connect()
    connection.execute(f"attach '{tmp_path / 'llm_cache.duckdb'}' as llm_cache")
    clients = clients_table(2)
    with LLMServer(fault_share=1.0, faults=("english",)) as server:
        first = generate_missing(
            clients,
            campaigns_table(),
            None,
            settings_for(server, max_failure_share=1.0),
            connection=connection,
        )
        assert [r["status"] for r in first.to_pylist()] == ["rejected", "rejected"]
        server.set_faults(0.0)
        before = server.requests
        second = generate_missing(
            clients,
            campaigns_table(),
            first,
            settings_for(server, max_failure_share=1.0),
            connection=connection,
        )
        calls = server.requests - before
    print(
        f"re-run after every attempt was rejected: {calls} calls, {[r['status'] for r in second.to_pylist()]}"
    )
    assert [r["status"] for r in second.to_pylist()] == ["ok", "ok"]


@pytest.mark.parametrize("faults", [("500", "503", "drop", "malformed"), ("429",), ("empty", "english")])
def test_when_every_request_fails_the_run_fails_loudly_with_a_summary(tmp_path, faults):
    connection = duckdb.connect()
    connection.execute(f"attach '{tmp_path / 'llm_cache.duckdb'}' as llm_cache")
    with LLMServer(fault_share=1.0, faults=faults, retry_after=0.1) as server:
        with pytest.raises(TooManyFailures) as raised:
            generate_missing(
                clients_table(40), campaigns_table(), None, settings_for(server), connection=connection
            )
        requests = server.requests
    error = raised.value
    print(f"{faults}: {requests} requests; {error}")
    assert error.summary and sum(error.summary.values()) > 0
    assert "failed" in str(error)
    # Fails fast: nowhere near every row's full budget of retries and regenerations.
    assert requests <= 40 * (MAX_RETRIES + 1) * (MAX_REGENERATIONS + 1)
    (status,) = connection.execute("select status from llm_cache.main.generation_log").fetchone()
    assert status == "failed"


# -- the same through dbt build ------------------------------------------------------------------------

DBT_CLIENTS = 30


@pytest.fixture(scope="module")
def dbt_runs(tmp_path_factory):
    """Three builds on one database: 20% faults, then healthy, then a new round with every request failing."""
    tmp = tmp_path_factory.mktemp("faults_dbt")
    (tmp / "exports").mkdir()
    clients_csv, accounts_csv, clients = write_clients(tmp / "imports", DBT_CLIENTS)
    runs = {}
    with LLMServer(
        fault_share=FAULT_SHARE, faults=("500", "503", "429", "drop", "malformed", "empty", "url")
    ) as server:
        env = llm_env(
            tmp,
            server.openai_url,
            MARKETING_TIMEOUT_SECONDS="1",
            **csv_env(clients_csv, accounts_csv),
        )

        def build(name: str, data_tests: bool = True, **settings: str) -> None:
            before = server.requests
            args = ["build", *csv_vars()]
            if not data_tests:
                args += NO_DATA_TESTS
            result = run_dbt(args, {**env, **settings})
            with duckdb.connect(str(tmp / "marketing.duckdb"), read_only=True) as connection:
                rows = connection.execute(
                    "select client_id, campaign_id, round, status, error_reason, message "
                    "from marketing_messages"
                ).fetchall()
                (clients,) = connection.execute(
                    "select count(*) from clients where first_name is not null"
                ).fetchone()
            runs[name] = {
                "result": result,
                "rows": rows,
                "requests": server.requests - before,
                "expected_rows": clients * 2,  # two generated campaigns
            }

        # The faulty builds are judged by their rows and exit code; the healthy one runs every data test.
        build("faulty", data_tests=False)
        server.set_faults(0.0)
        build("healthy")
        server.set_faults(1.0, ("500", "503"))
        build("all_failing", data_tests=False, MARKETING_ROUNDS="2")
        runs["leaks"] = [found for body in server.bodies if (found := pii_findings(body, clients))]
    return runs


def test_dbt_build_with_faults_records_every_row_with_its_reason(dbt_runs):
    run = dbt_runs["faulty"]
    rows = run["rows"]
    statuses = Counter(row[3] for row in rows)
    print(f"dbt build, 20% faults: {dict(statuses)} from {run['requests']} requests")
    assert len(rows) == run["expected_rows"] >= DBT_CLIENTS * 2
    assert len({row[:3] for row in rows}) == len(rows)
    assert all((row[3] == "ok") == (row[4] is None) for row in rows)
    assert dbt_runs["leaks"] == [], "a request carried a CPF, surname, client id or balance"


def test_dbt_rerun_after_the_faults_stop_completes_exactly_the_failed_rows(dbt_runs):
    failed = sum(row[3] != "ok" for row in dbt_runs["faulty"]["rows"])
    run = dbt_runs["healthy"]
    assert run["result"].returncode == 0, run["result"].stdout[-3000:]
    print(f"dbt re-run: {failed} failed rows, {run['requests']} requests")
    assert run["requests"] == failed
    assert len(run["rows"]) == run["expected_rows"]
    assert all(row[3] == "ok" for row in run["rows"])
    assert len({row[:3] for row in run["rows"]}) == len(run["rows"])


def test_dbt_build_with_every_request_failing_fails_loudly_and_keeps_the_table(dbt_runs):
    run = dbt_runs["all_failing"]
    out = run["result"].stdout + run["result"].stderr
    assert run["result"].returncode == 1
    assert "marketing_messages" in out and re.search(r"messages failed|model calls all failed", out), out[
        -3000:
    ]
    assert re.search(r"server_error \d+", out), "the summary counts the failures by reason"
    # The previous build's rows are all still there: no empty or half-written table.
    assert sorted(run["rows"]) == sorted(dbt_runs["healthy"]["rows"])
