"""Extract from the CRM API with dlt: against a real loopback server, with the API down, demo and real."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from python_udfs.crm import CrmSettings, extract, mock_allowed
from python_udfs.crm.__main__ import extract_main, main
from python_udfs.errors import ApiUnreachable, InputFileError, MarketingError
from testkit.crm_server import CrmServer, dev_week_user

MOCK_USERS_CSV = Path(__file__).parents[1] / "seeds" / "crm_mock_users.csv"
LINEAGE_SQL = "select count(*), bool_and(is_mock), min(extracted_from), count(_extracted_at) from crm_raw.{}"


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


def crm_raw_tables(settings: CrmSettings) -> list[str]:
    if not settings.duckdb_path.exists():
        return []
    return [
        name
        for (name,) in rows(
            settings, "select table_name from information_schema.tables where table_schema = 'crm_raw'"
        )
    ]


def three_users() -> list[dict]:
    welcome = {"id": 1, "icon": "https://example.test/news.svg", "description": "Bem-vindo"}
    return [
        dev_week_user(1, "João", balance=1520.35, news=[welcome]),
        dev_week_user(2, "Maria", balance=48210.9),
        dev_week_user(3, "Pedro", balance=310.0),
    ]


def test_extract_loads_every_user_with_its_news_and_features_all_with_lineage(tmp_path):
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
    assert rows(settings, "select user_id, description from crm_raw.users__news") == [(1, "Bem-vindo")]
    for table, count in [("users", 3), ("users__news", 1), ("users__features", 3)]:
        assert rows(settings, LINEAGE_SQL.format(table)) == [(count, False, "api", count)]


def test_the_users_lineage_columns_are_not_null_columns_so_staging_needs_no_test_for_them(tmp_path):
    """stg_crm__users, __accounts and __cards carry no not_null test on these: the load enforces it."""
    with CrmServer(three_users()) as crm:
        settings = settings_for(tmp_path, crm.url, [1, 2, 3])
        extract(settings)
    nullable = rows(
        settings,
        "select column_name, is_nullable from information_schema.columns "
        "where table_schema = 'crm_raw' and table_name = 'users' "
        "and column_name in ('id', 'is_mock', 'extracted_from', '_extracted_at') order by column_name",
    )
    assert nullable == [("_extracted_at", "NO"), ("extracted_from", "NO"), ("id", "NO"), ("is_mock", "NO")]


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


def test_dlt_fetches_the_users_several_at_a_time(tmp_path):
    users = [dev_week_user(user_id, f"User {user_id}") for user_id in range(1, 9)]
    with CrmServer(users, delay_seconds=0.2) as crm:
        settings = settings_for(tmp_path, crm.url, list(range(1, 9)), concurrency=4)
        summary = extract(settings)

    assert summary.users_loaded == 8
    assert crm.max_in_flight > 1  # the parallelized transformer, not one request after another


def test_ids_the_api_answers_404_for_are_missing_until_a_later_extract_finds_them(tmp_path):
    with CrmServer(three_users()) as crm:
        settings = settings_for(tmp_path, crm.url, [1, 2, 404, 3])
        summary = extract(settings)
        assert (summary.users_loaded, summary.users_missing) == (3, 1)
        assert "1 id(s) missing, see crm_raw.missing_users" in summary.line()
        missing_sql = "select id, reason, http_status, is_mock, extracted_from from crm_raw.missing_users"
        assert rows(settings, missing_sql) == [(404, "not found (HTTP 404)", 404, False, "api")]

        crm.users[404] = dev_week_user(404, "Ana")
        assert extract(settings).users_missing == 0

    assert rows(settings, "select count(*) from crm_raw.missing_users") == [(0,)]
    assert rows(settings, "select count(*) from crm_raw.users") == [(4,)]


def test_server_errors_on_the_first_requests_are_retried_until_answered(tmp_path):
    with CrmServer(three_users(), fault=lambda request: 500 if request.number <= 2 else None) as crm:
        settings = settings_for(tmp_path, crm.url, [1, 2, 3], max_attempts=3)
        summary = extract(settings)

    assert (summary.extracted_from, summary.users_loaded) == ("api", 3)
    # The first id is asked alone first (is the API there?), then every id through dlt.
    assert crm.status_counts("GET") == {500: 2, 200: 4}


def test_an_id_still_failing_after_every_retry_is_recorded_and_the_others_load(tmp_path):
    always_fails = lambda request: 500 if request.path == "/users/2" else None  # noqa: E731
    with CrmServer(three_users(), fault=always_fails) as crm:
        settings = settings_for(tmp_path, crm.url, [1, 2, 3], max_attempts=2)
        summary = extract(settings)

    assert (summary.extracted_from, summary.users_loaded, summary.users_missing) == ("api", 2, 1)
    assert rows(settings, "select id, reason from crm_raw.missing_users") == [
        (2, f"CRM API unreachable at {settings.api_url}: GET answered HTTP 500 after 2 attempt(s)")
    ]


def test_in_a_demo_the_api_down_falls_back_to_the_mock_users_all_flagged(tmp_path):
    settings = settings_for(tmp_path, CrmServer.unreachable_url(), [1, 2, 3, 4, 5, 6], allow_mock=True)
    summary = extract(settings)

    assert summary.extracted_from == "mock"
    assert summary.line().startswith(f"CRM API unreachable at {settings.api_url}: connection refused")
    assert "using 6 mock users (is_mock = true)" in summary.line()
    assert rows(settings, LINEAGE_SQL.format("users")) == [(6, True, "mock", 6)]


def test_in_a_real_run_the_api_down_is_an_error_and_no_mock_user_is_loaded(tmp_path):
    settings = settings_for(tmp_path, CrmServer.unreachable_url(), [1, 2, 3], allow_mock=False)
    with pytest.raises(MarketingError, match=r"connection refused .* never uses the mock users") as raised:
        extract(settings)

    assert isinstance(raised.value, ApiUnreachable)
    assert crm_raw_tables(settings) == []


def test_a_real_run_without_a_crm_loads_nothing_and_drops_an_earlier_demo(tmp_path):
    demo = settings_for(tmp_path, None, [1, 2, 3], allow_mock=True)
    assert extract(demo).extracted_from == "mock"
    assert rows(demo, "select count(*) from crm_raw.users where is_mock") == [(3,)]

    real = settings_for(tmp_path, None, [1, 2, 3], allow_mock=False)
    summary = extract(real)
    assert summary.line() == (
        "no CRM configured: clients and segments come from your files alone"
        " (dropped the crm_raw an earlier run left)"
    )
    assert crm_raw_tables(real) == []
    assert extract(real).line() == "no CRM configured: clients and segments come from your files alone"

    with CrmServer(three_users()) as crm:  # dlt starts afresh: it forgot the dropped tables too
        summary = extract(settings_for(tmp_path, crm.url, [1, 2, 3], allow_mock=False))
    assert summary.users_loaded == 3
    assert rows(real, LINEAGE_SQL.format("users")) == [(3, False, "api", 3)]


def test_a_real_run_that_reaches_the_api_keeps_no_mock_row_of_an_earlier_demo(tmp_path):
    extract(settings_for(tmp_path, None, [1, 2, 3, 4, 5, 6], allow_mock=True))
    with CrmServer(three_users()) as crm:
        settings = settings_for(tmp_path, crm.url, [1, 2, 3], allow_mock=False)
        summary = extract(settings)

    assert summary.line().endswith("(the mock rows of an earlier demo run dropped first)")
    assert rows(settings, "select id, is_mock from crm_raw.users order by id") == [
        (1, False),
        (2, False),
        (3, False),
    ]


def test_demo_or_real_follows_client_source_unless_crm_mock_says(tmp_path):
    assert mock_allowed({}) is True  # dbt_project.yml's default client_source is the seeds
    assert mock_allowed({"client_source": "seed"}) is True
    assert mock_allowed({"client_source": "csv"}) is False
    assert mock_allowed({"client_source": "csv", "crm_mock": True}) is True
    assert mock_allowed({"client_source": "seed", "crm_mock": False}) is False


@pytest.fixture
def cli_environment(tmp_path, monkeypatch) -> CrmSettings:
    settings = settings_for(tmp_path, None, [1, 2])
    monkeypatch.setenv("CRM_USER_IDS_CSV", str(settings.user_ids_csv))
    monkeypatch.setenv("CRM_MOCK_USERS_CSV", str(settings.mock_users_csv))
    monkeypatch.setenv("MARKETING_DUCKDB_PATH", str(settings.duckdb_path))
    monkeypatch.setenv("CRM_PIPELINES_DIR", str(settings.pipelines_dir))
    monkeypatch.delenv("CRM_API_URL", raising=False)
    return settings


def test_cli_says_on_one_line_that_the_users_are_mock(cli_environment, capsys):
    assert main(["extract", "--mock"]) == 0
    output = capsys.readouterr().out.splitlines()
    assert len(output) == 1
    assert output[0].startswith("CRM_API_URL is not set — using 2 mock users (is_mock = true)")


def test_console_script_in_a_real_run_without_a_crm_says_so_on_one_line(cli_environment, capsys):
    assert extract_main(["--no-mock"]) == 0
    assert capsys.readouterr().out == "no CRM configured: clients and segments come from your files alone\n"
    assert crm_raw_tables(cli_environment) == []


def test_in_a_demo_a_slow_api_times_out_to_the_mock(tmp_path):
    with CrmServer(three_users(), delay_seconds=0.5) as crm:
        settings = settings_for(tmp_path, crm.url, [1, 2], timeout_seconds=0.1, max_attempts=1)
        summary = extract(settings)

    assert summary.extracted_from == "mock"
    assert "no answer within 0.1s after 1 attempt(s)" in summary.fallback_reason


def test_a_wrong_token_is_an_error_not_a_silent_fallback(tmp_path):
    with CrmServer(three_users(), token="right") as crm:
        settings = settings_for(tmp_path, crm.url, [1], api_token="wrong", allow_mock=True)
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
