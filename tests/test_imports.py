"""The preflight check of client exports: every problem named with its file and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from python_udfs.errors import InputFileError
from python_udfs.imports import REQUIRED_COLUMNS, ImportSettings, check_file, check_files, main

FILES = Path(__file__).parent / "fixtures" / "client_files"
CLIENTS = REQUIRED_COLUMNS["clients"]


def check(name: str, **options):
    return check_file(FILES / name, required=CLIENTS, **options)


@pytest.mark.parametrize(
    "name", ["clients_semicolon.csv", "clients_bom.csv", "clients_crlf.csv", "clients_extra_column.csv"]
)
def test_good_files_pass(name):
    report = check(name)
    assert report.rows == 3
    assert {c.lower() for c in report.columns} >= {"id", "nome", "cpf"}
    assert report.warnings == ()


def test_latin1_file_passes_when_configured():
    assert check("clients_latin1.csv", encoding="latin-1").rows == 3


def test_latin1_file_read_as_utf8_names_the_line_and_the_fix():
    with pytest.raises(InputFileError) as raised:
        check("clients_latin1.csv")
    assert raised.value.row == 2
    assert "clients_latin1.csv, line 2" in str(raised.value)
    assert "csv_encoding: latin-1" in str(raised.value)


def test_utf8_file_read_as_latin1_is_refused():
    with pytest.raises(InputFileError, match="is UTF-8 but csv_encoding is latin-1"):
        check("clients_semicolon.csv", encoding="latin-1")


@pytest.mark.parametrize(
    ("name", "row", "problem"),
    [
        ("clients_empty.csv", None, "the file is empty"),
        ("clients_missing_column.csv", 1, "missing required column(s) CPF"),
        ("clients_comma.csv", 1, "looks delimited by ','"),
        ("clients_header_only.csv", None, "no data rows"),
        ("clients_ragged.csv", 5, "has 5 fields where the header has 3"),
    ],
)
def test_bad_files_name_file_row_and_problem(name, row, problem):
    with pytest.raises(InputFileError) as raised:
        check(name)
    error = raised.value
    assert error.path.endswith(name)
    assert error.row == row
    assert problem in error.problem
    assert name in str(error)


def test_mangled_accents_are_a_warning():
    (warning,) = check("clients_mojibake.csv").warnings
    assert warning.startswith("line 2 has 'Ã£'")


def test_comma_delimiter_works_when_configured():
    assert check("clients_comma.csv", delimiter=",").rows == 3


def test_glob_with_no_match_is_an_error(tmp_path):
    with pytest.raises(InputFileError, match="no file matches"):
        check_files(str(tmp_path / "clients*.csv"), required=CLIENTS)


def test_settings_environment_overrides_dbt_vars(tmp_path):
    (tmp_path / "dbt_project.yml").write_text(
        "vars:\n  clients_csv_path: a.csv\n  accounts_csv_path: b.csv\n  csv_delimiter: ','\n"
    )
    settings = ImportSettings.from_project(tmp_path, environ={"MARKETING_CLIENTS_CSV": "env.csv"})
    assert settings == ImportSettings("env.csv", "b.csv", ",", "utf-8")


def test_main_reports_ok(capsys):
    code = main(
        [
            "--clients",
            str(FILES / "clients_semicolon.csv"),
            "--accounts",
            str(FILES / "accounts_semicolon.csv"),
        ]
    )
    assert code == 0
    assert "3 clients rows" in capsys.readouterr().out


def test_cli_exits_1_with_the_message_and_no_traceback():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "python_udfs.imports",
            "--clients",
            str(FILES / "clients_latin1.csv"),
            "--accounts",
            str(FILES / "accounts_semicolon.csv"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert "clients_latin1.csv, line 2: is not valid utf-8" in result.stderr
