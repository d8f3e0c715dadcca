"""The preflight of client exports: each file's dialect detected, file-level problems named with file
and line, row-level ones counted and left to dbt. Fast: no dbt build."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from python_udfs.client_files import main
from python_udfs.client_files.preflight import (
    CLIENT_FILES_VARIABLE,
    ImportSettings,
    check_exports,
    check_file,
)
from python_udfs.client_files.text import looks_mangled, register_text_functions, repair_text_arrow
from python_udfs.errors import InputFileError
from tests.client_exports import ACCOUNTS, CLIENTS, EXPORTS, FILE_ERRORS, FORCED_SETTINGS, ExportCase

CASES = [("clients", case) for case in CLIENTS] + [("accounts", case) for case in ACCOUNTS]


@pytest.mark.parametrize(("kind", "case"), CASES, ids=[case.file for _, case in CASES])
def test_each_readable_export_is_detected_and_counted(kind: str, case: ExportCase):
    report = check_file(EXPORTS / case.file, kind)
    assert report.dialect.describe().startswith(f"{case.encoding}, delimiter {case.delimiter}, ")
    assert report.rows == case.rows
    if case.warning:
        assert any(case.warning in warning for warning in report.warnings), report.warnings
    else:
        assert report.warnings == ()


@pytest.mark.parametrize(("name", "line", "problem"), [(n, *v) for n, v in FILE_ERRORS.items()])
def test_an_unreadable_file_is_named_with_its_line_and_problem(name, line, problem):
    with pytest.raises(InputFileError) as raised:
        check_file(EXPORTS / name, "clients")
    assert raised.value.row == line
    assert problem in raised.value.problem
    assert str(raised.value).startswith(str(EXPORTS / name) + (f", line {line}" if line else ":"))


@pytest.mark.parametrize(("name", "setting", "line", "problem"), FORCED_SETTINGS)
def test_a_setting_forced_against_the_file_is_refused_with_the_fix(name, setting, line, problem):
    with pytest.raises(InputFileError) as raised:
        check_file(EXPORTS / name, "clients", **setting)
    assert raised.value.row == line
    assert problem in raised.value.problem
    assert "auto" in raised.value.problem, "the message says how to let detection decide"


def test_forced_settings_that_match_the_file_are_used():
    report = check_file(EXPORTS / "clients_comma.csv", "clients", delimiter=",", encoding="utf-8")
    assert (report.dialect.delimiter, report.dialect.duckdb_encoding, report.rows) == (",", "utf-8", 3)
    assert check_file(EXPORTS / "clients_tab.csv", "clients", delimiter="tab").dialect.delimiter == "\t"


def test_a_dos_export_is_told_from_a_windows_one(tmp_path):
    path = tmp_path / "clients_dos.csv"
    path.write_bytes("id;nome;CPF\n1;João Conceição;1\n2;Inês Araújo;2\n3;José Gonçalves;3\n".encode("cp850"))
    dialect = check_file(path, "clients").dialect
    assert (dialect.codec, dialect.duckdb_encoding) == ("cp850", None)


def test_the_dbt_entry_maps_each_required_column_to_its_position():
    report = check_file(EXPORTS / "clients_reordered.csv", "clients")
    entry = report.for_dbt()
    assert entry["positions"] == {"id": 3, "nome": 2, "cpf": 1}
    assert (entry["field_count"], entry["has_header"], entry["encoding"]) == (3, True, "utf-8")
    headerless = check_file(EXPORTS / "clients_no_header.csv", "clients").for_dbt()
    assert (headerless["has_header"], headerless["positions"]) == (False, {"id": 1, "nome": 2, "cpf": 3})


def test_missing_accounts_are_a_notice_and_missing_clients_an_error(tmp_path):
    settings = ImportSettings(str(EXPORTS / "clients_semicolon.csv"), str(tmp_path / "accounts*.csv"))
    preflight = check_exports(settings)
    assert [report.kind for report in preflight.reports] == ["clients"]
    assert preflight.lines[-1].endswith("no accounts, every client is sem_conta")
    assert json.loads(preflight.environment()[CLIENT_FILES_VARIABLE])["accounts"] == []
    with pytest.raises(InputFileError, match="no file matches this path"):
        check_exports(dataclasses.replace(settings, clients_csv=str(tmp_path / "clients*.csv")))


def test_each_file_of_a_glob_is_detected_on_its_own():
    settings = ImportSettings(str(EXPORTS / "clients_[clu]*.csv"), str(EXPORTS / "accounts_*.csv"))
    files = json.loads(check_exports(settings).environment()[CLIENT_FILES_VARIABLE])
    dialects = {Path(f["source_file"]).name: (f["encoding"], f["delimiter"]) for f in files["clients"]}
    assert dialects["clients_comma.csv"] == ("utf-8", ",")
    assert dialects["clients_latin1.csv"] == ("latin-1", ";")
    assert dialects["clients_utf16.csv"] == ("utf-16", "\t")
    accounts = {Path(f["source_file"]).name: (f["encoding"], f["delimiter"]) for f in files["accounts"]}
    assert accounts["accounts_comma_latin1.csv"] == ("latin-1", ",")


def test_a_file_duckdb_cannot_read_goes_through_a_utf8_copy_removed_at_exit(tmp_path):
    """The copy holds CPFs: it must exist while dbt reads it and be gone when the process ends."""
    script = (
        "import json, os, sys\n"
        "from python_udfs.client_files import prepare_client_files\n"
        f"prepare_client_files({{'clients_csv_path': {str(EXPORTS / 'clients_windows1252.csv')!r}, "
        f"'accounts_csv_path': {str(tmp_path / 'none.csv')!r}}})\n"
        f"entry = json.loads(os.environ[{CLIENT_FILES_VARIABLE!r}])['clients'][0]\n"
        "print(entry['path']); print(open(entry['path'], encoding='utf-8').read().splitlines()[1])\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    *_, copy, first_row = result.stdout.strip().splitlines()
    assert "read through a temporary UTF-8 copy" in result.stdout
    assert first_row.startswith("71;Luíza D\u2019Ávila;")
    assert not Path(copy).exists()
    assert not Path(copy).parent.exists()


def test_settings_environment_overrides_dbt_vars(tmp_path):
    (tmp_path / "dbt_project.yml").write_text(
        "vars:\n  clients_csv_path: a.csv\n  accounts_csv_path: b.csv\n  csv_delimiter: ','\n"
    )
    settings = ImportSettings.from_project(tmp_path, environ={"MARKETING_CLIENTS_CSV": "env.csv"})
    assert settings == ImportSettings("env.csv", "b.csv", ",", "auto")
    settings = ImportSettings.from_project(tmp_path, environ={}, cli_vars={"csv_encoding": "latin-1"})
    assert (settings.clients_csv, settings.encoding) == ("a.csv", "latin-1")


def test_main_prints_what_it_detected(capsys):
    code = main(
        ["--clients", str(EXPORTS / "clients_utf16.csv"), "--accounts", str(EXPORTS / "accounts_*.csv")]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "clients_utf16.csv: 3 rows; UTF-16, delimiter tab, header id, nome, CPF" in out
    assert "accounts_comma_latin1.csv: 2 rows; Latin-1, delimiter ','" in out


@pytest.mark.parametrize("module", ["python_udfs.client_files"])
def test_cli_exits_1_with_the_message_and_no_traceback(module):
    result = subprocess.run(
        [sys.executable, "-m", module, "--clients", str(EXPORTS / "broken_missing_column.csv")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert "broken_missing_column.csv, line 1: missing required column(s) CPF" in result.stderr


# -- repair_text, the UDF the base model calls ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "repaired"),
    [
        ("JoÃ£o", "João"),
        ("ConceiÃ§Ã£o", "Conceição"),
        ("Jos&eacute;", "José"),
        ("D\x92Ávila", "D\u2019Ávila"),
        ("João", "João"),
        ("Ana Souza", "Ana Souza"),
        ("São Paulo", "São Paulo"),
        (None, None),
    ],
)
def test_repair_text_fixes_mangled_text_and_leaves_the_rest(value, repaired):
    with duckdb.connect() as connection:
        register_text_functions(connection)
        register_text_functions(connection)  # a second registration on the same connection is fine
        assert connection.execute("select repair_text(?)", [value]).fetchone()[0] == repaired


def test_repair_text_arrow_calls_ftfy_only_for_values_that_look_mangled(monkeypatch):
    seen = []
    monkeypatch.setattr("python_udfs.client_files.text.repair_text", lambda text: seen.append(text) or "x")
    result = repair_text_arrow(pa.array(["Ana", "JoÃ£o", None, "Maria", "Jo&atilde;o"]))
    assert result.to_pylist() == ["Ana", "x", None, "Maria", "x"]
    assert seen == ["JoÃ£o", "Jo&atilde;o"]
    assert looks_mangled("JoÃ£o") and not looks_mangled("João")


@pytest.mark.parametrize(
    "value",
    ["JoÃ£o", "ConceiÃ§Ã£o", "Jos&eacute;", "D\x92Ávila", "Jo&#227;o", "João", "Ana Souza", "São Paulo"],
)
def test_the_sql_macro_picks_out_the_values_the_python_check_does(value):
    # The base model sends only what `looks_mangled` (SQL) picks out to the UDF.
    with duckdb.connect() as connection:
        register_text_functions(connection)
        assert connection.execute("select looks_mangled(?)", [value]).fetchone()[0] == looks_mangled(value)
