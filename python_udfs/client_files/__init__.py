"""Real client exports (the `csv` client source): detect, check, and tell dbt how to read them.

    python -m python_udfs.client_files            # or: marketing-check-files

Each file's encoding, delimiter and header are detected and printed; a file that cannot be read at all
stops with the file, the line and the problem; rows dbt will set aside are counted. The pipeline runs
this before `dbt build` and hands dbt what it detected (`prepare_client_files`).

Settings, first found wins: command-line option, environment variable, dbt var (`--vars`, then
dbt_project.yml). `auto` (the default) detects per file.

| setting            | option        | environment variable      | dbt var             |
| ------------------ | ------------- | ------------------------- | ------------------- |
| clients file/glob  | `--clients`   | `MARKETING_CLIENTS_CSV`   | `clients_csv_path`  |
| accounts file/glob | `--accounts`  | `MARKETING_ACCOUNTS_CSV`  | `accounts_csv_path` |
| delimiter          | `--delimiter` | `MARKETING_CSV_DELIMITER` | `csv_delimiter`     |
| encoding           | `--encoding`  | `MARKETING_CSV_ENCODING`  | `csv_encoding`      |
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from python_udfs.client_files.preflight import ImportSettings, check_exports, dbt_project_dir, project_vars
from python_udfs.errors import MarketingError

# The checks themselves live in `preflight` (and `dialect`); import them from there.
__all__ = ["dbt_project_dir", "main", "prepare_client_files", "project_vars"]


def prepare_client_files(
    cli_vars: Mapping[str, object] | None = None, project_dir: Path | None = None
) -> None:
    """For the pipeline: check the exports, print what was found, and pass it to dbt's environment."""
    preflight = check_exports(ImportSettings.from_project(project_dir, cli_vars=cli_vars), project_dir)
    for line in preflight.lines:
        print(line, flush=True)
    os.environ.update(preflight.environment(preflight.write_utf8_copies()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m python_udfs.client_files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="where dbt_project.yml is (default: DBT_PROJECT_DIR, else .)",
    )
    parser.add_argument("--clients", help="clients file or glob")
    parser.add_argument("--accounts", help="accounts file or glob (optional)")
    parser.add_argument("--delimiter", help="auto (default), ';', ',', tab or '|'")
    parser.add_argument("--encoding", help="auto (default), utf-8, utf-16 or latin-1")
    args = parser.parse_args(argv)

    settings = ImportSettings.from_project(args.project_dir)
    overrides = {
        "clients_csv": args.clients,
        "accounts_csv": args.accounts,
        "delimiter": args.delimiter,
        "encoding": args.encoding,
    }
    settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v})
    try:
        preflight = check_exports(settings, args.project_dir)
    except MarketingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for line in preflight.lines:
        print(line)
    return 0
