"""Push tips back to the CRM through a dlt custom destination: retries, resume, terminal failures, and
what never reaches the CRM or disk."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from python_udfs.crm import CrmSettings, extract, push_tips
from python_udfs.crm.__main__ import main, push_main
from python_udfs.crm.push import PUSH_BATCH_SIZE
from python_udfs.errors import ApiUnreachable, CrmRefused, MarketingError
from testkit.crm_server import CrmServer, IncomingRequest, dev_week_user

MOCK_USERS_CSV = Path(__file__).parents[1] / "seeds" / "crm_mock_users.csv"
START = datetime(2025, 12, 1, 12, 0, tzinfo=timezone.utc)


def settings_for(tmp_path: Path, api_url: str | None, **overrides) -> CrmSettings:
    """Settings that keep every file under tmp_path and give up fast."""
    ids_csv = tmp_path / "SDW2023.csv"
    ids_csv.write_text("UserID\n1\n2\n3\n")
    fast = {"timeout_seconds": 2.0, "max_attempts": 3, "backoff_seconds": 0.01}
    return CrmSettings(
        api_url=api_url,
        user_ids_csv=ids_csv,
        mock_users_csv=MOCK_USERS_CSV,
        duckdb_path=tmp_path / "marketing.duckdb",
        pipelines_dir=tmp_path / "dlt",
        **{**fast, **overrides},
    )


def write_messages(settings: CrmSettings, messages: list[tuple]) -> None:
    """A `marketing_messages` table as the generative step builds it (plus the rows given)."""
    with duckdb.connect(str(settings.duckdb_path)) as connection:
        connection.execute(
            "create table if not exists main.marketing_messages (client_id integer, campaign_id varchar,"
            " round integer, message varchar, status varchar, generated_at timestamptz)"
        )
        connection.executemany("insert into main.marketing_messages values (?, ?, ?, ?, ?, ?)", messages)


def tip(client_id: int, round_number: int, message: str, status: str = "ok") -> tuple:
    generated_at = START + timedelta(minutes=round_number)
    return (client_id, "investment_tips", round_number, message, status, generated_at)


def news_descriptions(crm: CrmServer, user_id: int) -> list[str]:
    return [item["description"] for item in crm.users[user_id]["news"]]


def three_users() -> list[dict]:
    return [dev_week_user(1, "João"), dev_week_user(2, "Maria"), dev_week_user(3, "Pedro")]


def test_push_sends_one_put_per_client_with_a_new_tip_and_none_on_a_rerun(tmp_path):
    with CrmServer(three_users()) as crm:
        settings = settings_for(tmp_path, crm.url)
        write_messages(
            settings,
            [
                tip(1, 1, "Invista no Tesouro Selic, João."),
                tip(2, 1, "Maria, um CDB de liquidez diária?"),
                tip(2, 2, "Maria, diversifique com fundos imobiliários."),
                tip(2, 3, "newest but failed validation", status="invalid"),
                tip(3, 1, "Pedro, comece pela reserva de emergência."),
                tip(9, 1, "A client the CRM does not know."),
                (1, "christmas_gifts", 1, "Not a tip: another campaign.", "ok", START),
            ],
        )
        first = push_tips(settings)
        second = push_tips(settings)

        assert first.line() == (
            "CRM push: 3 tip(s) pushed, 1 tip(s) for clients not in the CRM; recorded in crm_push.tip_pushes"
        )
        assert second.line().startswith("CRM push: 3 tip(s) already in the CRM, 1 tip(s) for clients")
        assert crm.status_counts("PUT") == {200: 3}
        assert news_descriptions(crm, 1) == ["Invista no Tesouro Selic, João."]
        assert news_descriptions(crm, 2) == ["Maria, diversifique com fundos imobiliários."]
        assert news_descriptions(crm, 3) == ["Pedro, comece pela reserva de emergência."]
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as connection:
        ledger = connection.execute(
            "select outcome, count(*) from crm_push.tip_pushes group by outcome order by outcome"
        ).fetchall()
    assert ledger == [("already_present", 3), ("not_in_crm", 2), ("pushed", 3)]


def test_a_new_round_adds_its_tip_next_to_the_old_one(tmp_path):
    with CrmServer(three_users()) as crm:
        settings = settings_for(tmp_path, crm.url)
        write_messages(settings, [tip(1, 1, "Primeira dica.")])
        push_tips(settings)
        write_messages(settings, [tip(1, 2, "Segunda dica.")])
        push_tips(settings)

        assert news_descriptions(crm, 1) == ["Primeira dica.", "Segunda dica."]
        assert [item["id"] for item in crm.users[1]["news"]] == [1, 2]


def ledger(settings: CrmSettings, columns: str = "client_id, outcome") -> list[tuple]:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as connection:
        return connection.execute(
            f"select {columns} from crm_push.tip_pushes order by attempted_at, client_id"
        ).fetchall()


def test_a_transient_failure_is_retried_by_dlt_and_pushes_nothing_twice(tmp_path):
    # Sequential: GET 1, PUT 1, GET 2, PUT 2 (the 4th request fails), then dlt retries the batch.
    with CrmServer(three_users(), fault=lambda request: 500 if request.number == 4 else None) as crm:
        settings = settings_for(tmp_path, crm.url, max_attempts=1)
        write_messages(settings, [tip(1, 1, "Dica 1."), tip(2, 1, "Dica 2."), tip(3, 1, "Dica 3.")])
        summary = push_tips(settings)

        assert not summary.has_failures
        assert summary.line() == (
            "CRM push: 3 tip(s) pushed, 1 transient failure(s) retried; recorded in crm_push.tip_pushes"
        )
        assert crm.status_counts("PUT") == {200: 3, 500: 1}
        assert [news_descriptions(crm, user_id) for user_id in (1, 2, 3)] == [
            ["Dica 1."],
            ["Dica 2."],
            ["Dica 3."],
        ]
    assert ledger(settings) == [
        (1, "pushed"),
        (2, "unreachable"),  # the batch stopped here; dlt ran it again
        (1, "already_present"),
        (2, "pushed"),
        (3, "pushed"),
    ]


@pytest.mark.slow
def test_a_push_stopped_mid_run_resumes_from_the_failed_batch(tmp_path, monkeypatch):
    monkeypatch.setenv("LOAD__RAISE_ON_MAX_RETRIES", "2")  # dlt gives up on the batch sooner
    clients = range(1, PUSH_BATCH_SIZE + 3)  # two batches: the second one fails
    failing = {"put": f"/users/{PUSH_BATCH_SIZE + 1}"}

    def fault(request: IncomingRequest) -> int | None:
        return 503 if (request.method, request.path) == ("PUT", failing["put"]) else None

    with CrmServer([dev_week_user(i, f"User {i}") for i in clients], fault=fault) as crm:
        settings = settings_for(tmp_path, crm.url, max_attempts=2)
        write_messages(settings, [tip(i, 1, f"Dica {i}.") for i in clients])
        with pytest.raises(
            ApiUnreachable, match=r"HTTP 503 after 2 attempt\(s\)\. .* resume from that batch"
        ):
            push_tips(settings)
        assert Counter(outcome for _, outcome in ledger(settings)) == {
            "pushed": PUSH_BATCH_SIZE,
            "unreachable": 2,  # dlt ran the failing batch twice
        }

        failing["put"] = None
        requests_before = len(crm.requests)
        summary = push_tips(settings)
        resumed = crm.requests[requests_before]
        assert (resumed.method, resumed.path) == ("GET", f"/users/{PUSH_BATCH_SIZE + 1}")
        assert summary.line() == (
            f"CRM push: 2 tip(s) pushed, {PUSH_BATCH_SIZE} tip(s) already in the CRM;"
            " recorded in crm_push.tip_pushes"
        )
        assert all(news_descriptions(crm, i) == [f"Dica {i}."] for i in clients)


def test_a_rejected_record_is_recorded_not_retried_and_the_others_go_on(tmp_path, capsys, monkeypatch):
    rejects_two = lambda request: 422 if (request.method, request.path) == ("PUT", "/users/2") else None  # noqa: E731
    with CrmServer(three_users(), fault=rejects_two) as crm:
        settings = settings_for(tmp_path, crm.url)
        write_messages(settings, [tip(1, 1, "Dica 1."), tip(2, 1, "Dica 2."), tip(3, 1, "Dica 3.")])
        monkeypatch.setenv("MARKETING_DUCKDB_PATH", str(settings.duckdb_path))
        monkeypatch.setenv("CRM_PIPELINES_DIR", str(settings.pipelines_dir))
        monkeypatch.setenv("CRM_API_URL", crm.url)

        assert push_main([]) == 1
        assert capsys.readouterr().out == (
            "CRM push: 2 tip(s) pushed, 1 tip(s) rejected by the CRM (first: client 2, PUT answered"
            " HTTP 422); recorded in crm_push.tip_pushes\n"
        )
        assert crm.status_counts("PUT") == {200: 2, 422: 1}
        assert news_descriptions(crm, 2) == []
    assert ledger(settings, "client_id, outcome, reason") == [
        (1, "pushed", None),
        (2, "rejected", "PUT answered HTTP 422"),
        (3, "pushed", None),
    ]


def test_a_refused_token_stops_the_push_and_the_next_push_resumes_it(tmp_path):
    with CrmServer(three_users(), token="right") as crm:
        settings = settings_for(tmp_path, crm.url, api_token="wrong")
        write_messages(settings, [tip(1, 1, "Dica 1."), tip(2, 1, "Dica 2.")])
        with pytest.raises(CrmRefused, match=r"refused the request \(HTTP 401\): check CRM_API_TOKEN"):
            push_tips(settings)
        assert len(crm.requests) == 1  # neither the HTTP client nor dlt retries a refusal

        summary = push_tips(replace(settings, api_token="right"))
        assert summary.line() == "CRM push: 2 tip(s) pushed; recorded in crm_push.tip_pushes"
    refused, first_pushed = ledger(settings, "outcome, load_id")[:2]
    assert (refused[0], first_pushed[0]) == ("refused", "pushed")
    assert refused[1] == first_pushed[1]  # the same dlt load package, resumed


@pytest.mark.slow
def test_with_the_api_down_the_push_stops_after_dlt_retries_with_every_attempt_recorded(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("LOAD__RAISE_ON_MAX_RETRIES", "2")
    settings = settings_for(tmp_path, CrmServer.unreachable_url(), max_attempts=2)
    write_messages(settings, [tip(1, 1, "Dica 1."), tip(2, 1, "Dica 2.")])
    with pytest.raises(ApiUnreachable) as raised:
        push_tips(settings)

    assert str(raised.value).startswith(
        f"CRM push stopped: CRM API unreachable at {settings.api_url}: connection refused after 2 attempt(s)."
    )
    assert "0 tip(s) pushed before it stopped" in str(raised.value)
    assert ledger(settings) == [(1, "unreachable"), (1, "unreachable")]


def test_push_before_dbt_build_is_a_clear_error(tmp_path, capsys, monkeypatch):
    settings = settings_for(tmp_path, "http://127.0.0.1:1")
    duckdb.connect(str(settings.duckdb_path)).close()
    with pytest.raises(MarketingError, match=r"no marketing_messages table in .*: run dbt build"):
        push_tips(settings)

    monkeypatch.setenv("MARKETING_DUCKDB_PATH", str(settings.duckdb_path))
    monkeypatch.delenv("CRM_API_URL", raising=False)
    assert main(["push"]) == 1
    assert capsys.readouterr().err == (
        "error: CRM_API_URL is not set: the push needs a CRM API to send the tips to\n"
    )


def test_no_request_carries_a_cpf_and_the_token_is_in_no_log_or_file(tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    token = "tok-3f9a1c7e5b2d4a68"
    cpfs = ["12345678910", "98765432100", "11122233344"]
    with CrmServer(three_users(), token=token) as crm:
        settings = settings_for(tmp_path, crm.url, api_token=token)
        with duckdb.connect(str(settings.duckdb_path)) as connection:
            connection.execute("create table main.clients (client_id integer, cpf varchar)")
            connection.executemany("insert into main.clients values (?, ?)", enumerate(cpfs, start=1))
        extract(settings)
        write_messages(settings, [tip(1, 1, "Dica 1."), tip(2, 1, "Dica 2.")])
        push_tips(settings)

    assert {request.status for request in crm.requests} == {200}  # the token was sent, and accepted
    sent = "\n".join(f"{r.path} {r.headers} {r.body}" for r in crm.requests)
    assert not [cpf for cpf in cpfs if cpf in sent]

    printed = capsys.readouterr()
    assert token not in printed.out + printed.err + caplog.text
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.suffix == ".duckdb" for path in written)
    assert any("dlt" in path.parts for path in written)
    assert not [path for path in written if token.encode() in path.read_bytes()]
