"""Hostile and broken client exports, end to end: each row has its stated outcome, no run a traceback.

One pipeline run (preflight, CRM step, `dbt build` with generation against the loopback model server)
reads every readable file of tests/fixtures/client_exports/ at once, with no option: the stated
outcomes are in tests/client_exports.py. Smaller `dbt build`s (dbt alone, so the dialects are detected
at compile time) check what a real run does with mock CRM rows, a file with too many bad rows, a
missing accounts file and a file DuckDB cannot read.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from testkit.llm_server import LLMServer
from tests.client_exports import ACCOUNTS, CLIENTS, EXPORTS, NAMES
from tests.reliability_support import (
    CPF_PATTERN,
    csv_vars,
    llm_env,
    project_env,
    raw_cpfs_in_database,
    run_dbt,
    run_pipeline,
)

pytestmark = pytest.mark.slow

ACCEPTED_IDS = {client_id for case in CLIENTS for client_id in case.accepted}
REJECTED = {
    (case.file, line, reasons) for case in (*CLIENTS, *ACCOUNTS) for line, reasons in case.rejected.items()
}
# What DuckDB's own errors look like: none may reach the user.
DUCKDB_ERRORS = re.compile(r"Conversion Error|Invalid Input Error|Binder Error|Catalog Error|Traceback")


def query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """Every readable export through the pipeline, with no dialect option and no export folder set."""
    tmp = tmp_path_factory.mktemp("hostile_exports")
    with LLMServer() as server:
        env = llm_env(tmp, server.openai_url)
        del env["MARKETING_EXPORT_DIR"]  # the exports go beside the database file
        dbt_vars = (
            f"{{client_source: csv, clients_csv_path: '{EXPORTS}/clients_*.csv', "
            f"accounts_csv_path: '{EXPORTS}/accounts_*.csv', max_rejected_client_share: 0.5}}"
        )
        result = run_pipeline(["--no-show", "--", "--store-failures", "--vars", dbt_vars], env, timeout=600)
        bodies = list(server.bodies)
    return tmp, result, bodies


def test_the_run_succeeds_without_a_traceback_or_a_duckdb_error(hostile_run):
    _, result, _ = hostile_run
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert not DUCKDB_ERRORS.search(out), DUCKDB_ERRORS.search(out)


def test_the_preflight_prints_each_files_detected_dialect(hostile_run):
    _, result, _ = hostile_run
    for case in (*CLIENTS, *ACCOUNTS):
        line = next((line for line in result.stdout.splitlines() if f"/{case.file}:" in line), None)
        assert line is not None, f"no preflight line for {case.file}"
        assert f": {case.rows} rows; {case.encoding}, delimiter {case.delimiter}," in line, line


def test_clients_messages_and_exports_hold_exactly_the_files_valid_ids(hostile_run):
    tmp, _, _ = hostile_run
    database = tmp / "marketing.duckdb"
    clients = {row[0] for row in query(database, "select client_id from clients")}
    assert clients == ACCEPTED_IDS, (sorted(clients - ACCEPTED_IDS), sorted(ACCEPTED_IDS - clients))
    greeted = {
        row[0] for row in query(database, "select client_id from clients where first_name is not null")
    }
    generated = {row[0] for row in query(database, "select distinct client_id from marketing_messages")}
    assert generated == greeted == ACCEPTED_IDS - {313}, "every client with a first name, and only them"
    exported = {
        client["client_id"] for client in json.loads((tmp / "exports" / "crm_export.json").read_text())
    }
    assert exported == ACCEPTED_IDS


def test_every_other_row_is_in_rejected_client_rows_with_its_reason(hostile_run):
    tmp, _, _ = hostile_run
    rows = query(
        tmp / "marketing.duckdb",
        "select regexp_extract(source_file, '[^/]+$'), line_number, string_agg(reason, ', ' order by reason) "
        "from rejected_client_rows group by all",
    )
    expected = {(file, line, ", ".join(sorted(reasons.split(", ")))) for file, line, reasons in REJECTED}
    assert set(rows) == expected


def test_rejected_rows_show_what_was_there_but_never_a_cpf(hostile_run):
    tmp, _, _ = hostile_run
    shown = dict(
        query(
            tmp / "marketing.duckdb",
            "select regexp_extract(source_file, '[^/]+$') || ':' || line_number || ':' || reason, raw_value "
            "from rejected_client_rows",
        )
    )
    assert shown["clients_cpf_spreadsheet.csv:3:cpf_precision_lost"] == "#.#####E+##"
    assert shown["clients_cpf_spreadsheet.csv:6:cpf_malformed"] == "###.###.##X-##"
    assert shown["clients_ids.csv:2:id_not_integer"] == "X72"
    assert shown["clients_ids.csv:8:id_not_integer"] == "***.999.999-**", "an 11-digit id is masked"
    assert shown["clients_markup.csv:2:name_unusable"] == "<script>alert(1)</script>"
    assert shown["clients_hostile_names.csv:6:name_too_long"].endswith("…")


def test_names_are_cleaned_once_and_greeted_as_stated(hostile_run):
    tmp, _, _ = hostile_run
    names = {
        row[0]: row[1:]
        for row in query(tmp / "marketing.duckdb", "select client_id, first_name, full_name from clients")
    }
    assert {client_id: names[client_id] for client_id in NAMES} == NAMES


def test_flags_say_what_was_done_to_a_row(hostile_run):
    tmp, _, _ = hostile_run
    flags = {
        row[0]: row[1:]
        for row in query(
            tmp / "marketing.duckdb",
            "select client_id, is_name_truncated, is_name_repaired, is_cpf_shared, is_cpf_valid, has_cpf, "
            "length(full_name) from clients",
        )
    }
    assert [i for i, f in flags.items() if f[0]] == [351] and flags[351][5] <= 120 and flags[353][5] == 120
    assert sorted(i for i, f in flags.items() if f[1]) == [131, 132, 133, 323]
    # 203 and 214 (another file) hold one CPF, once as `1234567890`, once as `1234567890.0`.
    assert sorted(i for i, f in flags.items() if f[2]) == [203, 207, 208, 214, 343, 344]
    assert flags[211][3] and flags[214][3], "spreadsheet floats are normalised"
    assert not flags[205][3] and not flags[206][3], "repeated digits and a wrong check digit are flagged"
    assert not flags[204][4], "an empty CPF is no CPF"


def test_a_real_run_reads_no_mock_crm_data(hostile_run):
    tmp, result, _ = hostile_run
    rows = query(
        tmp / "marketing.duckdb",
        "select client_id, segment, bank_data_source, has_mock_crm_data, source_system from clients "
        "where client_id <= 6 order by 1",
    )
    assert rows == [
        (1, "basico", "accounts", False, "csv"),
        (2, "alta_renda", "accounts", False, "csv"),
        (3, "sem_saldo", "accounts", False, "csv"),
    ]
    assert not re.search(r"using \d+ mock users", result.stdout), "the CRM step loaded no mock users"


def test_the_exports_beside_the_database_hold_no_markup_and_no_raw_cpf(hostile_run):
    tmp, _, _ = hostile_run
    text = (tmp / "exports" / "crm_export.json").read_text(encoding="utf-8")
    assert (tmp / "exports" / "crm_export.parquet").exists()
    assert "<" not in text and ">" not in text
    assert CPF_PATTERN.findall(text) == []
    markup = query(
        tmp / "marketing.duckdb",
        "select count(*) from client_marketing_messages where regexp_matches(message || first_name, '[<>]')",
    )
    assert markup == [(0,)]


def test_no_table_holds_a_raw_cpf(hostile_run):
    tmp, _, _ = hostile_run
    assert raw_cpfs_in_database(tmp / "marketing.duckdb") == {}


def test_no_model_request_carries_a_cpf_or_markup(hostile_run):
    _, _, bodies = hostile_run
    assert bodies, "the model was asked"
    assert [CPF_PATTERN.findall(body) for body in bodies if CPF_PATTERN.search(body)] == []
    assert [body for body in bodies if re.search(r"<\s*/?\s*(script|b|img)\b", body, re.I)] == []


# -- dbt alone: the dialects detected at compile time -------------------------------------------------

MOCK_USERS_SQL = """
create schema crm_raw;
create table crm_raw.users as
select
    id, 'Mock ' || id as name, '0001' as account__agency, lpad(id::varchar, 8, '0') as account__number,
    48210.90::double as account__balance, 15000.0::double as account__limit, '**** 1234' as card__number,
    12000.0::double as card__limit, true as is_mock, 'mock' as extracted_from,
    now()::timestamptz as _extracted_at
from range(1, 7) as t(id);
"""


def dbt_alone(
    tmp: Path, files: list[str], *args: str, renamed: dict[str, str] | None = None
) -> tuple[Path, object]:
    """`dbt build --select +clients` on copies of `files` (and of each fixture in `renamed`, under its
    new name); the database holds a demo's mock users."""
    imports = tmp / "imports"
    imports.mkdir()
    for fixture, name in {**{name: name for name in files}, **(renamed or {})}.items():
        shutil.copy(EXPORTS / fixture, imports / name)
    with duckdb.connect(str(tmp / "marketing.duckdb")) as connection:
        connection.execute(MOCK_USERS_SQL)
    env = project_env(
        tmp,
        MARKETING_CLIENTS_CSV=str(imports / "clients_*.csv"),
        MARKETING_ACCOUNTS_CSV=str(imports / "accounts_*.csv"),
    )
    command = ["build", "--select", "+clients", "--indirect-selection", "cautious", *args]
    return tmp / "marketing.duckdb", run_dbt(command, env)


DIALECTS = ["clients_semicolon.csv", "clients_comma.csv", "clients_latin1.csv", "clients_utf16.csv"]


def test_dbt_alone_detects_each_dialect_and_ignores_earlier_mock_users(tmp_path):
    database, result = dbt_alone(tmp_path, [*DIALECTS, "accounts_semicolon.csv"], *csv_vars())
    assert result.returncode == 0, result.stdout[-4000:]
    rows = query(database, "select client_id, full_name, segment, has_mock_crm_data from clients order by 1")
    assert [row[0] for row in rows] == [1, 2, 3, 11, 12, 13, 61, 62, 63, 81, 82, 83]
    assert rows[1] == (2, "Maria", "alta_renda", False), "the accounts file, not the mock user, decides"
    assert rows[6][1] == "João Conceição" and rows[9][1] == "Tânia Peixoto"
    assert not any(row[3] for row in rows)


def test_mock_crm_users_are_read_beside_real_files_only_when_asked(tmp_path):
    database, result = dbt_alone(
        tmp_path, ["clients_semicolon.csv"], "--vars", "{client_source: csv, crm_mock: true}"
    )
    assert result.returncode == 0, result.stdout[-4000:]
    rows = query(database, "select client_id, bank_data_source, has_mock_crm_data from clients order by 1")
    assert rows == [(1, "crm", True), (2, "crm", True), (3, "crm", True)]


def test_too_many_rejected_rows_stop_the_build_before_any_mart_naming_the_rows(tmp_path):
    database, result = dbt_alone(tmp_path, ["clients_ids.csv"], *csv_vars())
    out = result.stdout
    assert result.returncode == 1
    assert "rejected_share_at_most(clients): 5 of 8 clients rows set aside" in out
    assert re.search(
        r"rejected_share_at_most\(clients\) failing row: source_file=\S+clients_ids.csv, line_number=2, "
        r"column_name=id, reason=id_not_integer, raw_value=X72",
        out,
    )
    assert "SKIP relation main.clients" in out
    assert query(database, "select count(*) from duckdb_tables() where table_name = 'clients'") == [(0,)]
    assert not DUCKDB_ERRORS.search(out + result.stderr)


def test_no_accounts_file_means_every_client_is_sem_conta(tmp_path):
    database, result = dbt_alone(tmp_path, ["clients_comma.csv"], *csv_vars())
    assert result.returncode == 0, result.stdout[-4000:]
    assert query(database, "select distinct segment, account_count from clients") == [("sem_conta", 0)]


def test_dbt_alone_on_a_file_duckdb_cannot_read_says_how_to_read_it(tmp_path):
    _, result = dbt_alone(tmp_path, ["clients_windows1252.csv"], *csv_vars())
    assert result.returncode == 1
    assert "clients_windows1252.csv: a Windows-1252 (or DOS) export" in result.stdout
    assert "python -m python_udfs.pipeline" in result.stdout
    assert not DUCKDB_ERRORS.search(result.stdout + result.stderr)


@pytest.mark.parametrize("fixture", ["broken_empty.csv", "broken_blank.csv"])
def test_dbt_alone_on_an_empty_export_says_so(tmp_path, fixture):
    _, result = dbt_alone(tmp_path, [], *csv_vars(), renamed={fixture: "clients_empty.csv"})
    assert result.returncode == 1
    assert "clients_empty.csv: the file is empty (not even a header line)" in result.stdout
    assert not DUCKDB_ERRORS.search(result.stdout + result.stderr)


def test_a_header_only_export_builds_zero_clients(tmp_path):
    database, result = dbt_alone(tmp_path, ["clients_header_only.csv"], *csv_vars())
    assert result.returncode == 0, result.stdout[-4000:]
    assert query(database, "select count(*) from clients") == [(0,)]
    assert query(database, "select count(*) from rejected_client_rows") == [(0,)]
