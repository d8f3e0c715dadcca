"""Push tips back to the CRM with a dlt custom destination; and what never reaches the CRM or disk."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from python_udfs.crm import CrmSettings, extract, push_tips
from python_udfs.crm.__main__ import main
from python_udfs.errors import MarketingError
from testkit.crm_server import CrmServer, dev_week_user

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


def test_a_failed_put_is_recorded_and_the_other_tips_go_on(tmp_path, capsys, monkeypatch):
    # The push is sequential: GET 1, PUT 1, GET 2, PUT 2 (the 4th request fails), GET 3, PUT 3.
    with CrmServer(three_users(), server_error_share=0.25) as crm:
        settings = settings_for(tmp_path, crm.url, max_attempts=1)
        write_messages(settings, [tip(1, 1, "Dica 1."), tip(2, 1, "Dica 2."), tip(3, 1, "Dica 3.")])
        summary = push_tips(settings)

        assert summary.has_failures
        assert summary.line() == (
            "CRM push: 2 tip(s) pushed, 1 tip(s) failed (first: client 2, PUT answered HTTP 500); "
            "recorded in crm_push.tip_pushes"
        )
        assert (news_descriptions(crm, 1), news_descriptions(crm, 2)) == (["Dica 1."], [])

        crm.server_error_share = 0.0
        assert push_tips(settings).line().startswith("CRM push: 1 tip(s) pushed, 2 tip(s) already")
        assert news_descriptions(crm, 2) == ["Dica 2."]


def test_server_errors_on_put_are_retried_without_duplicating_news(tmp_path):
    with CrmServer(three_users(), server_error_share=0.5) as crm:
        settings = settings_for(tmp_path, crm.url, max_attempts=3)
        write_messages(settings, [tip(1, 1, "Dica 1."), tip(2, 1, "Dica 2."), tip(3, 1, "Dica 3.")])
        summary = push_tips(settings)

        assert not summary.has_failures
        assert [news_descriptions(crm, user_id) for user_id in (1, 2, 3)] == [
            ["Dica 1."],
            ["Dica 2."],
            ["Dica 3."],
        ]


def test_with_the_api_down_every_tip_is_recorded_as_failed_after_one_try(tmp_path):
    settings = settings_for(tmp_path, CrmServer.unreachable_url(), max_attempts=2)
    write_messages(settings, [tip(1, 1, "Dica 1."), tip(2, 1, "Dica 2.")])
    summary = push_tips(settings)

    assert [outcome.outcome for outcome in summary.outcomes] == ["failed", "failed"]
    assert {outcome.reason for outcome in summary.outcomes} == {
        f"CRM API unreachable at {settings.api_url}: connection refused after 2 attempt(s)"
    }


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
