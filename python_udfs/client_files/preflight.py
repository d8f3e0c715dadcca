"""The preflight of real client exports: each file's dialect detected, read once, and reported.

A file-level problem stops the run naming the file (and the line, when there is one): no file, an
empty file, an encoding or delimiter that was forced and is wrong, no header naming the required
columns. Row-level problems never stop it: dbt sets those rows aside in `rejected_client_rows`; the
preflight only counts the ones it can see from Python (a wrong number of fields, a name mangled by a
wrong encoding) so the user reads about them before the build.

What it detects is handed to dbt in the environment variable MARKETING_CLIENT_FILES (JSON), which
`macros/client_files.sql` reads, so dbt reads each file exactly as printed here.
"""

from __future__ import annotations

import atexit
import csv
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from python_udfs.client_files.dialect import FileDialect, detect_dialect
from python_udfs.client_files.text import looks_mangled
from python_udfs.errors import InputFileError

__all__ = [
    "CLIENT_FILES_VARIABLE",
    "REQUIRED_COLUMNS",
    "FileReport",
    "ImportSettings",
    "Preflight",
    "check_exports",
    "check_file",
    "dbt_project_dir",
    "project_vars",
]

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "clients": ("id", "nome", "CPF"),
    "accounts": ("client_id", "agency", "account_number", "balance", "credit_limit", "card_limit"),
}
CLIENT_FILES_VARIABLE = "MARKETING_CLIENT_FILES"
_LINES_NAMED = 5


@dataclass(frozen=True)
class FileReport:
    """One export that can be read: its dialect, data rows, and what the user should know."""

    path: str
    kind: str
    dialect: FileDialect
    rows: int
    warnings: tuple[str, ...] = field(default=())

    def positions(self) -> dict[str, int]:
        """Each required column (as the staging models name it) and its 1-based position in the file."""
        names = [name.lower() for name in self.dialect.header]
        return {name.lower(): names.index(name.lower()) + 1 for name in REQUIRED_COLUMNS[self.kind]}

    def for_dbt(self, read_path: str | None = None) -> dict:
        """This file's entry in MARKETING_CLIENT_FILES, the shape `client_file_dialects` returns.

        `read_path` is the UTF-8 copy DuckDB reads instead, for a file in an encoding it cannot read.
        """
        return {
            "path": read_path or self.path,
            "source_file": self.path,
            "encoding": "utf-8" if read_path else self.dialect.duckdb_encoding,
            "delimiter": self.dialect.delimiter,
            "has_header": self.dialect.has_header,
            "field_count": len(self.dialect.header),
            "positions": self.positions(),
        }


@dataclass(frozen=True)
class Preflight:
    """Every file checked, and the lines to print."""

    reports: tuple[FileReport, ...]
    lines: tuple[str, ...]

    def environment(self, copies: Mapping[str, Path] | None = None) -> dict[str, str]:
        """What dbt needs to read the files as detected here; `copies` maps a path to its UTF-8 copy."""
        copies = copies or {}
        files = {
            kind: [
                r.for_dbt(str(copies[r.path]) if r.path in copies else None)
                for r in self.reports
                if r.kind == kind
            ]
            for kind in REQUIRED_COLUMNS
        }
        return {CLIENT_FILES_VARIABLE: json.dumps(files)}

    def write_utf8_copies(self) -> dict[str, Path]:
        """A UTF-8 copy of each file DuckDB cannot read as it is (Windows-1252 punctuation, CP850).

        The copies hold what the exports hold, CPFs included: they go to a private temporary folder
        (mode 0700) that is removed when this process exits.
        """
        needing = [report for report in self.reports if report.dialect.duckdb_encoding is None]
        if not needing:
            return {}
        folder = Path(tempfile.mkdtemp(prefix="client-files-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        copies = {}
        for number, report in enumerate(needing):
            copy = folder / f"{number}-{Path(report.path).name}"
            with (
                open(report.path, encoding=report.dialect.codec, newline="") as source,
                copy.open("w", encoding="utf-8", newline="") as target,
            ):
                shutil.copyfileobj(source, target)
            copies[report.path] = copy
        return copies


@dataclass(frozen=True)
class ImportSettings:
    """Where the exports are and how to read them (`auto`: detect per file)."""

    clients_csv: str
    accounts_csv: str
    delimiter: str = "auto"
    encoding: str = "auto"

    @classmethod
    def from_project(
        cls,
        project_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
        cli_vars: Mapping[str, object] | None = None,
    ) -> ImportSettings:
        """The settings dbt uses: environment variables over `--vars` over the vars in dbt_project.yml."""
        environ = os.environ if environ is None else environ
        dbt_vars = {**project_vars(project_dir), **(cli_vars or {})}

        def pick(env: str, var: str, default: str) -> str:
            return str(environ.get(env) or dbt_vars.get(var) or default)

        return cls(
            clients_csv=pick("MARKETING_CLIENTS_CSV", "clients_csv_path", "data/imports/clients*.csv"),
            accounts_csv=pick("MARKETING_ACCOUNTS_CSV", "accounts_csv_path", "data/imports/accounts*.csv"),
            delimiter=pick("MARKETING_CSV_DELIMITER", "csv_delimiter", "auto"),
            encoding=pick("MARKETING_CSV_ENCODING", "csv_encoding", "auto"),
        )


def dbt_project_dir() -> Path:
    """Where dbt_project.yml is: `DBT_PROJECT_DIR`, as for dbt itself, else the current directory."""
    return Path(os.environ.get("DBT_PROJECT_DIR") or ".")


def project_vars(project_dir: Path | None = None) -> dict:
    """The `vars:` block of dbt_project.yml."""
    project_file = (project_dir or dbt_project_dir()) / "dbt_project.yml"
    if not project_file.exists():
        return {}
    return (yaml.safe_load(project_file.read_text(encoding="utf-8")) or {}).get("vars") or {}


def _lines_named(lines: Sequence[int], count: int) -> str:
    named = ", ".join(str(line) for line in lines[:_LINES_NAMED])
    return f"line {named}" if count == 1 else f"lines {named}{', ...' if count > _LINES_NAMED else ''}"


def _scan(path: Path, kind: str, dialect: FileDialect) -> tuple[int, list[str]]:
    """Read every record as DuckDB will: (data rows, warnings about rows dbt will set aside or repair)."""
    width = len(dialect.header)
    name_position = REQUIRED_COLUMNS[kind].index("nome") if kind == "clients" else None
    if name_position is not None and dialect.has_header:
        name_position = [n.lower() for n in dialect.header].index("nome")
    rows, ragged, mangled = 0, [], []
    with path.open(encoding=dialect.codec, errors="replace", newline="") as file:
        reader = csv.reader(file, delimiter=dialect.delimiter)
        if dialect.has_header:
            next(reader, None)
        line = reader.line_num + 1
        for record in reader:
            if any(value.strip() for value in record):
                rows += 1
                if len(record) != width:
                    ragged.append((line, len(record)))
                elif name_position is not None and looks_mangled(record[name_position]):
                    mangled.append(line)
            line = reader.line_num + 1
    warnings = []
    if ragged:
        first_line, fields = ragged[0]
        later = [line for line, _ in ragged[1:]]
        others = f" (and {len(later)} more row(s): {_lines_named(later, len(later))})" if later else ""
        warnings.append(
            f"line {first_line} has {fields} fields where the header has {width}{others}: "
            "set aside in rejected_client_rows"
        )
    if mangled:
        warnings.append(
            f"{len(mangled)} name(s) look mangled (mojibake such as `JoÃ£o`, or HTML entities) "
            f"({_lines_named(mangled, len(mangled))}): repaired, and flagged is_name_repaired"
        )
    return rows, warnings


def check_file(path: str | Path, kind: str, *, delimiter: str = "auto", encoding: str = "auto") -> FileReport:
    """Check one export of `kind` (`clients` or `accounts`); raise InputFileError on a file-level problem."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    dialect = detect_dialect(path, REQUIRED_COLUMNS[kind], delimiter=delimiter, encoding=encoding)
    rows, warnings = _scan(path, kind, dialect)
    if rows == 0:
        consequence = "zero clients are built" if kind == "clients" else "no account is read"
        warnings.append(f"the file has a header but no data rows: {consequence}")
    return FileReport(str(path), kind, dialect, rows, tuple(warnings))


def _paths(pattern: str, project_dir: Path) -> list[str]:
    full = pattern if os.path.isabs(pattern) else str(project_dir / pattern)
    return sorted(glob.glob(full))


def check_exports(settings: ImportSettings, project_dir: Path | None = None) -> Preflight:
    """Check every clients and accounts export the settings point at. Clients must exist; accounts may not."""
    project_dir = project_dir or dbt_project_dir()
    reports, lines = [], []
    for kind, pattern in (("clients", settings.clients_csv), ("accounts", settings.accounts_csv)):
        paths = _paths(pattern, project_dir)
        if not paths and kind == "clients":
            raise InputFileError(
                pattern,
                "no file matches this path: put the client export there, or point clients_csv_path "
                "(MARKETING_CLIENTS_CSV) at it",
            )
        if not paths:
            lines.append(f"{kind:<9} no file matches {pattern}: no accounts, every client is sem_conta")
        for path in paths:
            report = check_file(path, kind, delimiter=settings.delimiter, encoding=settings.encoding)
            reports.append(report)
            lines.append(f"{kind:<9} {path}: {report.rows} rows; {report.dialect.describe()}")
            lines.extend(f"          warning: {warning}" for warning in report.warnings)
    return Preflight(tuple(reports), tuple(lines))
