"""Extract from the CRM API with dlt: against a real loopback server, and with the API down."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from python_udfs.crm import CrmSettings, extract
from python_udfs.crm.__main__ import main
from python_udfs.errors import InputFileError, MarketingError
from testkit.crm_server import CrmServer, dev_week_user

MOCK_USERS_CSV = Path(__file__).parents[1] / "seeds" / "crm_mock_users.csv"


def settings_for(tmp_path: Path, api_url: str | None, user_ids: list[int], **overrides) -> CrmSettings:
    """Settings that keep every file under tmp_path and give up fast."""
    ids_csv = tmp_path / "SDW2023.csv"
    ids_csv.write_text("UserID\n" + "".join(f"{user_id}\n" for user_id in user_ids))
    fast = {"timeout_seconds": 2.0, "max_attempts": 3, "backoff_seconds": 0.01, "concurrency": 2}
    return CrmSettings(
        api_url=api_url,
        user_ids_csv=ids_csv,
        mock_users_csv=MOCK_USERS_CSV,
        duckdb_path=tmp_path / "marketing.duckdb",
        pipelines_dir=tmp_path / "dlt",
        **{**fast, **overrides},
    )


def rows(settings: CrmSettings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def three_users() -> list[dict]:
    welcome = {"id": 1, "icon": "https://example.test/news.svg", "description": "Bem-vindo"}
    return [
        dev_week_user(1, "João", balance=1520.35, news=[welcome]),
        dev_week_user(2, "Maria", balance=48210.9),
        dev_week_user(3, "Pedro", balance=310.0),
    ]


def test_extract_loads_every_user_with_its_news_and_features(tmp_path):
    with CrmServer(three_users()) as crm:
        settings = settings_for(tmp_path, crm.url, [1, 2, 3])
        summary = extract(settings)

    assert summary.extracted_from == "api"
    assert (summary.users_loaded, summary.users_missing) == (3, 0)
    assert summary.line().startswith("CRM extract: 3 users from the API")
    users_sql = "select id, name, account__balance, card__number, is_mock, extracted_from from crm_raw.users"
    assert rows(settings, f"{users_sql} order by id") == [
        (1, "João", 1520.35, "xxxx xxxx xxxx 0001", False, "api"),
        (2, "Maria", 48210.9, "xxxx xxxx xxxx 0002", False, "api"),
        (3, "Pedro", 310.0, "xxxx xxxx xxxx 0003", False, "api"),
    ]
    assert rows(settings, "select user_id, description, is_mock from crm_raw.users__news") == [
        (1, "Bem-vindo", False)
    ]
    assert rows(settings, "select count(*) from crm_raw.users__features") == [(3,)]


def test_re_extract_updates_a_changed_user_and_duplicates_nothing(tmp_path):
    with CrmServer(three_users()) as crm:
        settings = settings_for(tmp_path, crm.url, [1, 2, 3])
        extract(settings)
        crm.users[2]["account"]["balance"] = 99.0
        crm.users[2]["news"].append({"id": 7, "icon": "https://example.test/n.svg", "description": "Novo"})
        extract(settings)

    assert rows(settings, "select id, account__balance from crm_raw.users order by id") == [
        (1, 1520.35),
        (2, 99.0),
        (3, 310.0),
    ]
    assert rows(settings, "select user_id, description from crm_raw.users__news order by user_id") == [
        (1, "Bem-vindo"),
        (2, "Novo"),
    ]
    assert rows(settings, "select count(*) from crm_raw.users__features") == [(3,)]


def test_api_down_falls_back_to_the_mock_users_all_flagged(tmp_path, capsys):
    settings = settings_for(tmp_path, CrmServer.unreachable_url(), [1, 2, 3, 4, 5, 6])
    summary = extract(settings)

    assert summary.extracted_from == "mock"
    assert "connection refused" in summary.fallback_reason
    assert summary.line().startswith(f"CRM API unreachable at {settings.api_url}: connection refused")
    assert "using 6 mock users (is_mock = true)" in summary.line()
    assert rows(settings, "select count(*), bool_and(is_mock), min(extracted_from) from crm_raw.users") == [
        (6, True, "mock")
    ]


def test_cli_says_on_one_line_that_the_users_are_mock(tmp_path, capsys, monkeypatch):
    settings = settings_for(tmp_path, None, [1, 2])
    monkeypatch.setenv("CRM_USER_IDS_CSV", str(settings.user_ids_csv))
    monkeypatch.setenv("CRM_MOCK_USERS_CSV", str(settings.mock_users_csv))
    monkeypatch.setenv("MARKETING_DUCKDB_PATH", str(settings.duckdb_path))
    monkeypatch.setenv("CRM_PIPELINES_DIR", str(settings.pipelines_dir))
    monkeypatch.delenv("CRM_API_URL", raising=False)

    assert main(["extract"]) == 0
    output = capsys.readouterr().out.splitlines()
    assert len(output) == 1
    assert output[0].startswith("CRM_API_URL is not set — using 2 mock users (is_mock = true)")


def test_a_slow_api_times_out_to_the_mock(tmp_path):
    with CrmServer(three_users(), delay_seconds=0.5) as crm:
        settings = settings_for(tmp_path, crm.url, [1, 2], timeout_seconds=0.1, max_attempts=1)
        summary = extract(settings)

    assert summary.extracted_from == "mock"
    assert "no answer within 0.1s after 1 attempt(s)" in summary.fallback_reason


def test_ids_the_api_answers_404_for_are_recorded_as_missing(tmp_path):
    with CrmServer(three_users()) as crm:
        settings = settings_for(tmp_path, crm.url, [1, 2, 404, 3])
        summary = extract(settings)

    assert (summary.users_loaded, summary.users_missing) == (3, 1)
    assert "1 id(s) missing, see crm_raw.missing_users" in summary.line()
    assert rows(settings, "select id, reason, http_status, extracted_from from crm_raw.missing_users") == [
        (404, "not found (HTTP 404)", 404, "api")
    ]


def test_server_errors_are_retried_until_answered(tmp_path):
    with CrmServer(three_users(), server_error_share=0.5) as crm:
        settings = settings_for(tmp_path, crm.url, [1, 2, 3], max_attempts=3)
        summary = extract(settings)

    assert (summary.extracted_from, summary.users_loaded) == ("api", 3)
    assert crm.status_counts("GET") == {200: 3, 500: 2}  # every second request failed once


def test_an_id_still_failing_after_every_retry_is_recorded_with_the_reason(tmp_path):
    # Requests 1 and 3 succeed, request 2 (user 2, asked after user 1) answers 500.
    with CrmServer(three_users(), server_error_share=0.5) as crm:
        settings = settings_for(tmp_path, crm.url, [1, 2, 3], max_attempts=1, concurrency=1)
        summary = extract(settings)

    assert (summary.extracted_from, summary.users_loaded) == ("api", 2)
    assert rows(settings, "select id, reason from crm_raw.missing_users") == [
        (2, "HTTP 500 after 1 attempt(s)")
    ]


def test_a_wrong_token_is_an_error_not_a_silent_fallback(tmp_path):
    with CrmServer(three_users(), token="right") as crm:
        settings = settings_for(tmp_path, crm.url, [1], api_token="wrong")
        with pytest.raises(MarketingError, match=r"refused the request \(HTTP 401\): check CRM_API_TOKEN"):
            extract(settings)


def test_an_id_that_is_not_a_number_names_the_line(tmp_path):
    settings = settings_for(tmp_path, None, [1])
    settings.user_ids_csv.write_text("UserID\n1\nabc\n")
    with pytest.raises(InputFileError, match=r"SDW2023.csv, line 3: `abc` is not a user id"):
        extract(settings)


def test_an_address_that_is_not_a_url_is_a_clear_error_not_a_fallback(capsys):
    assert main(["extract", "--api-url", "crm.example.com"]) == 1
    assert capsys.readouterr().err.startswith(
        "error: CRM API URL 'crm.example.com' is not an http(s) address like https://crm.example.com"
    )
