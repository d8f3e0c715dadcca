"""The main job in one command: check inputs, extract, `dbt build`, push back, show the results.

    python -m python_udfs.pipeline [--push] [--no-show] [--unit-tests] [-- extra dbt build arguments]

Each step fails with one clear line and exit status 1; nothing is half-written, since every
model answer is cached as it arrives and a re-run picks up where the last one stopped.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import yaml

from python_udfs.client_files import dbt_project_dir, prepare_client_files, project_vars
from python_udfs.crm import CrmSettings, extract, mock_allowed, push_tips
from python_udfs.database import cache_path, check_database_free, database_path
from python_udfs.errors import MarketingError
from python_udfs.review import review_line

__all__ = ["SKIP_UNIT_TESTS", "main"]

SHOW_MESSAGES_SQL = """
select client_id, first_name, message_number, campaign_id, message
from client_marketing_messages
order by client_id, message_number
"""

INTERRUPTED = "interrupted: every answer received so far is cached; run again to resume."

# dbt's unit tests check the models' SQL on fixed inputs, not the data: the main job leaves them out,
# as dbt advises for production runs (they sit before `clients` and `campaign_offers`, about 0.7 s
# of every build); `make test` runs them (`--unit-tests`).
SKIP_UNIT_TESTS = ("--exclude-resource-type", "unit_test")


def cli_vars(dbt_args: list[str]) -> dict:
    """The `--vars` given to dbt build (YAML), so the checks here see what dbt will see."""
    for flag, value in itertools.pairwise(dbt_args):
        if flag == "--vars":
            try:
                return yaml.safe_load(value) or {}
            except yaml.YAMLError as error:
                raise MarketingError(f"--vars is not valid YAML: {error}") from None
    return {}


def check_project_dir() -> None:
    """Stop at once outside the project, before anything is written: dbt and the steps before it
    read the project (dbt_project.yml, the demo's files) from here or from DBT_PROJECT_DIR."""
    project_dir = dbt_project_dir()
    if not (project_dir / "dbt_project.yml").exists():
        raise MarketingError(
            f"no dbt_project.yml in {project_dir.resolve()}: run from the project's folder, "
            "or set DBT_PROJECT_DIR to it"
        )


def check_client_exports(dbt_args: list[str]) -> None:
    """With the csv client source, check the export files and tell dbt how to read them."""
    overrides = cli_vars(dbt_args)
    if overrides.get("client_source", project_vars().get("client_source")) != "csv":
        return
    prepare_client_files(overrides)


def run_dbt_build(extra_args: list[str], *, unit_tests: bool = False) -> None:
    """`dbt build` in this process: a second Python would spend seconds importing dbt again."""
    # Imported here, not above: the checks before the build fail fast, without 3 s of dbt imports.
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.exceptions import DbtUsageException
    from dbt.cli.main import dbtRunner

    args = ["build", *(() if unit_tests else SKIP_UNIT_TESTS), *extra_args]
    print(f"$ dbt {' '.join(args)}", flush=True)
    with _ctrl_c_stops_at_once():
        result = dbtRunner().invoke(args)
    # dbt-duckdb keeps the database open until the process exits; the steps after dbt open it again.
    DuckDBConnectionManager.close_all_connections()
    if isinstance(result.exception, DbtUsageException):
        raise MarketingError(f"dbt build: {result.exception}")
    if not result.success:
        raise MarketingError("dbt build failed: the lines above name the model or test and the rows.")


@contextmanager
def _ctrl_c_stops_at_once() -> Iterator[None]:
    """On Ctrl-C, dbt waits for the models it is running to finish: the generation would go on to
    its last client. Stop at once instead, as killing a separate dbt process did: the answers
    committed so far stay in the cache (DuckDB replays its write-ahead log, as after a kill), and
    the re-run asks only for the rest."""

    def stop(_signum, _frame) -> None:
        sys.stdout.flush()
        print(INTERRUPTED, file=sys.stderr, flush=True)
        os._exit(130)

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def show_messages(path: Path) -> None:
    """Print every client's messages, welcome first, the way the original example printed them."""
    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute(SHOW_MESSAGES_SQL).fetchall()
    current = None
    for client_id, first_name, _number, campaign_id, message in rows:
        if client_id != current:
            print(f"Cliente {client_id}: {first_name}")
            current = client_id
        print(f"  [{campaign_id}] {message}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m python_udfs.pipeline", description=__doc__)
    parser.add_argument("--push", action="store_true", help="push new investment tips back to the CRM")
    parser.add_argument("--crm-api-url", help="the CRM API's base URL (default: CRM_API_URL)")
    parser.add_argument("--no-show", action="store_true", help="don't print the messages at the end")
    parser.add_argument("--unit-tests", action="store_true", help="run dbt's unit tests too (CI does)")
    parser.add_argument("dbt_args", nargs="*", help="passed to `dbt build` (after --)")
    args = parser.parse_args(argv)

    try:
        check_project_dir()
        db_path = database_path()
        db_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path().parent.mkdir(parents=True, exist_ok=True)
        check_database_free(db_path)
        check_database_free(cache_path())
        check_client_exports(args.dbt_args)
        dbt_vars = {**project_vars(), **cli_vars(args.dbt_args)}
        crm_settings = CrmSettings.from_environment(
            api_url=args.crm_api_url, allow_mock=mock_allowed(dbt_vars)
        )
        print(extract(crm_settings).line(), flush=True)
        run_dbt_build(args.dbt_args, unit_tests=args.unit_tests)
        if args.push:
            summary = push_tips(crm_settings)
            print(summary.line(), flush=True)
            if summary.has_failures:
                raise MarketingError(
                    "the CRM rejected some tips: the line above says which, crm_push.tip_pushes why."
                )
        if not args.no_show:
            show_messages(db_path)
        print(review_line(db_path), flush=True)
    except MarketingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DBT_PROFILES_DIR", str(dbt_project_dir().resolve()))
    sys.exit(main())
