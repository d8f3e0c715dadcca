"""Preflight check of real client exports before dbt reads them (the `csv` client source).

    python -m python_udfs.imports            # the files dbt would read; exit 1 with the problem

Each file is checked for what a user can fix, and the first problem is raised as `InputFileError`
naming the file, the line and the problem: empty file, bytes that are not in the configured encoding
(Latin-1 exports read as UTF-8, or the reverse), wrong delimiter, missing required columns (matched
ignoring case; extra columns are fine and ignored), no data rows, or anything DuckDB's own CSV reader
rejects with the same options dbt uses. A UTF-8 byte order mark and CRLF line ends are fine.

Settings, first found wins: command-line option, environment variable, dbt var in dbt_project.yml.

| setting           | option        | environment variable     | dbt var             |
| ----------------- | ------------- | ------------------------ | ------------------- |
| clients file/glob | `--clients`   | `MARKETING_CLIENTS_CSV`  | `clients_csv_path`  |
| accounts file/glob| `--accounts`  | `MARKETING_ACCOUNTS_CSV` | `accounts_csv_path` |
| delimiter         | `--delimiter` | `MARKETING_CSV_DELIMITER`| `csv_delimiter`     |
| encoding          | `--encoding`  | `MARKETING_CSV_ENCODING` | `csv_encoding`      |

The environment variables are the ones `models/staging/_staging__sources.yml` reads too.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import glob
import io
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml

from python_udfs.errors import InputFileError, MarketingError

__all__ = [
    "REQUIRED_COLUMNS",
    "FileReport",
    "ImportSettings",
    "check_exports",
    "check_file",
    "check_files",
    "main",
    "project_vars",
]

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "clients": ("id", "nome", "CPF"),
    "accounts": ("client_id", "agency", "account_number", "balance", "credit_limit", "card_limit"),
}

_CHUNK = 1 << 20
# UTF-8 text that was once decoded as Latin-1/Windows-1252 and saved again: "JoÃ£o", "BalanÃ§o".
_MOJIBAKE = re.compile("[\u00c2\u00c3][\u0080-\u00bf]")


@dataclass(frozen=True)
class FileReport:
    """What a file that passed looks like: data rows, header columns, and warnings worth reading."""

    path: str
    rows: int
    columns: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class ImportSettings:
    clients_csv: str
    accounts_csv: str
    delimiter: str = ";"
    encoding: str = "utf-8"

    @classmethod
    def from_project(
        cls,
        project_dir: Path = Path("."),
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
            delimiter=pick("MARKETING_CSV_DELIMITER", "csv_delimiter", ";"),
            encoding=pick("MARKETING_CSV_ENCODING", "csv_encoding", "utf-8"),
        )


def project_vars(project_dir: Path = Path(".")) -> dict:
    """The `vars:` block of dbt_project.yml."""
    project_file = project_dir / "dbt_project.yml"
    if not project_file.exists():
        return {}
    return (yaml.safe_load(project_file.read_text(encoding="utf-8")) or {}).get("vars") or {}


def _decode_check(path: Path, encoding: str) -> tuple[str, list[str]]:
    """Stream-decode the whole file; return its first chunk of text and any warnings.

    Raises InputFileError naming the line of the first byte that is not in `encoding`.
    """
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise InputFileError(path, f"unknown encoding {encoding!r}; use utf-8 or latin-1") from None
    is_utf8 = codec.name == "utf-8"
    decoder = codecs.getincrementaldecoder("utf-8-sig" if is_utf8 else codec.name)()
    # A "Latin-1" file that is valid UTF-8 with accents is UTF-8: Latin-1 would mangle every accent.
    utf8_probe = None if is_utf8 else codecs.getincrementaldecoder("utf-8")()
    utf8_has_accents = False
    first_text: str | None = None
    warnings: list[str] = []
    lines_before = 0
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            pending = decoder.getstate()[0]
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as error:
                data = pending + chunk
                line = lines_before - pending.count(b"\n") + data[: error.start].count(b"\n") + 1
                raise InputFileError(
                    path,
                    f"is not valid {encoding} (byte 0x{data[error.start]:02X}); exports from Excel and "
                    "older systems are often Latin-1: set the dbt var `csv_encoding: latin-1` "
                    "(or MARKETING_CSV_ENCODING=latin-1)",
                    row=line,
                ) from None
            if utf8_probe is not None and not utf8_has_accents:
                try:
                    utf8_has_accents = not utf8_probe.decode(chunk).isascii()
                except UnicodeDecodeError:
                    utf8_probe = None
            if not warnings and (match := _MOJIBAKE.search(text)):
                line = lines_before + text.count("\n", 0, match.start()) + 1
                warnings.append(
                    f"line {line} has {match.group()!r}, which looks like accents mangled by a wrong "
                    "encoding (UTF-8 once read as Latin-1 and saved again)"
                )
            if first_text is None:
                first_text = text
            lines_before += chunk.count(b"\n")
    if utf8_probe is not None and utf8_has_accents:
        raise InputFileError(
            path,
            f"is UTF-8 but csv_encoding is {encoding}: accents would be mangled; set the dbt var "
            "`csv_encoding: utf-8` (or MARKETING_CSV_ENCODING=utf-8)",
        )
    return first_text or "", warnings


def _header(path: Path, text: str, delimiter: str, required: Sequence[str]) -> tuple[str, ...]:
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise InputFileError(path, "the file is empty")
    header = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    columns = tuple(name.strip() for name in header)
    if len(columns) == 1:
        other = next((d for d in (";", ",", "\t", "|") if d != delimiter and d in columns[0]), None)
        if other is not None:
            raise InputFileError(
                path,
                f"the header {columns[0]!r} has one column with delimiter {delimiter!r}: the file looks "
                f"delimited by {other!r}; set the dbt var `csv_delimiter` (or MARKETING_CSV_DELIMITER)",
                row=1,
            )
    present = {name.lower() for name in columns}
    missing = [name for name in required if name.lower() not in present]
    if missing:
        raise InputFileError(
            path,
            f"missing required column(s) {', '.join(missing)} (the header has: {', '.join(columns)})",
            row=1,
        )
    return columns


def _count_rows(path: Path, delimiter: str, encoding: str, columns: int) -> int:
    """Read the file as dbt will (DuckDB's CSV reader, same options) and count its data rows."""
    try:
        with duckdb.connect() as connection:
            (rows,) = connection.execute(
                "select count(*) from read_csv(?, delim = ?, encoding = ?, header = true, "
                "all_varchar = true, skip = 0)",
                [str(path), delimiter, encoding],
            ).fetchone()
    except duckdb.Error as error:
        _raise_on_ragged_row(path, delimiter, encoding, columns)
        first_line = str(error).strip().splitlines()[0]
        raise InputFileError(path, f"DuckDB cannot read it as configured: {first_line}") from None
    return rows


def _raise_on_ragged_row(path: Path, delimiter: str, encoding: str, columns: int) -> None:
    """After DuckDB refused the file: find the first row whose field count differs from the header's.

    DuckDB's message does not say which line; this scan (only on the error path) does.
    """
    text_encoding = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    with path.open(encoding=text_encoding, newline="") as file:
        reader = csv.reader(file, delimiter=delimiter)
        next(reader, None)
        for row in reader:
            if row and len(row) != columns:
                raise InputFileError(
                    path, f"has {len(row)} fields where the header has {columns}", row=reader.line_num
                )


def check_file(
    path: str | Path, *, delimiter: str = ";", encoding: str = "utf-8", required: Sequence[str] = ()
) -> FileReport:
    """Check one export; raise InputFileError with the first problem found."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    text, warnings = _decode_check(path, encoding)
    columns = _header(path, text, delimiter, required)
    rows = _count_rows(path, delimiter, encoding, len(columns))
    if rows == 0:
        raise InputFileError(path, "has a header but no data rows")
    return FileReport(str(path), rows, columns, tuple(warnings))


def check_files(
    pattern: str, *, delimiter: str = ";", encoding: str = "utf-8", required: Sequence[str] = ()
) -> list[FileReport]:
    """Check every file a path or glob matches (at least one must)."""
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise InputFileError(
            pattern,
            "no file matches this path: put the exports there, or point the path at them "
            "(see python -m python_udfs.imports --help)",
        )
    return [check_file(p, delimiter=delimiter, encoding=encoding, required=required) for p in paths]


def check_exports(settings: ImportSettings, project_dir: Path = Path(".")) -> list[str]:
    """Check the clients and accounts exports; one line per file that passed, warnings indented."""
    lines = []
    targets = {"clients": settings.clients_csv, "accounts": settings.accounts_csv}
    for kind, pattern in targets.items():
        if not os.path.isabs(pattern):
            pattern = str(project_dir / pattern)
        for report in check_files(
            pattern, delimiter=settings.delimiter, encoding=settings.encoding, required=REQUIRED_COLUMNS[kind]
        ):
            lines.append(f"ok  {report.path}: {report.rows} {kind} rows")
            lines.extend(f"    warning: {warning}" for warning in report.warnings)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m python_udfs.imports",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--project-dir", type=Path, default=Path("."), help="where dbt_project.yml is")
    parser.add_argument("--clients", help="clients file or glob (MARKETING_CLIENTS_CSV, then the dbt var)")
    parser.add_argument("--accounts", help="accounts file or glob (MARKETING_ACCOUNTS_CSV, then the dbt var)")
    parser.add_argument("--delimiter", help="field delimiter (MARKETING_CSV_DELIMITER, then the dbt var)")
    parser.add_argument("--encoding", help="utf-8 or latin-1 (MARKETING_CSV_ENCODING, then the dbt var)")
    args = parser.parse_args(argv)

    settings = ImportSettings.from_project(args.project_dir)
    delimiter = args.delimiter or settings.delimiter
    encoding = args.encoding or settings.encoding
    targets = {
        "clients": args.clients or settings.clients_csv,
        "accounts": args.accounts or settings.accounts_csv,
    }
    try:
        for line in check_exports(
            ImportSettings(targets["clients"], targets["accounts"], delimiter, encoding), args.project_dir
        ):
            print(line)
    except MarketingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
