"""Extract: the CRM's users into the `crm_raw` schema of the project's DuckDB file, with dlt.

The ids come from a CSV like the original example's `SDW2023.csv` (header `UserID`). A dlt resource
yields them (not loaded itself) into a parallelized transformer that fetches `GET /users/{id}` through
dlt's retrying client; dlt runs the requests in its extract thread pool. Users are merged on `id`: a
re-extract updates changed users and never duplicates one. dlt unnests `news` and `features` into the
child tables `users__news` and `users__features`. An id the API answers 404 for, or keeps failing for,
becomes a row of `missing_users` (replaced on every extract) with the reason.

Demo and real runs differ only when there is no CRM to ask:
- demo (`allow_mock`): no `CRM_API_URL`, or the API does not answer the first id, and the users come
  from the mock seed instead, every row flagged (`is_mock`, `extracted_from = 'mock'`), the summary
  line saying so. A mock run replaces the rows of the ids it loads: `is_mock` says which is which.
- real: no `CRM_API_URL` loads nothing and drops any `crm_raw` an earlier run left, so the clients
  come from the user's files alone; an unreachable API is an error. A real run that reaches the API
  first drops a `crm_raw` holding mock rows, so no demo row survives into real data.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import dlt
import duckdb
from dlt.common.schema.typing import TTableSchemaColumns
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.sources import DltResource
from dlt.sources.helpers.requests import Client

from python_udfs.crm.api import CrmSettings, call_api, make_client, marketing_error_in
from python_udfs.database import check_database_free
from python_udfs.errors import ApiUnreachable, InputFileError, MarketingError

__all__ = [
    "ApiUsers",
    "ExtractSummary",
    "Lineage",
    "MissingUser",
    "MockUsers",
    "crm_source",
    "extract",
    "read_user_ids",
]

DATASET_NAME = "crm_raw"
USER_COLUMNS: TTableSchemaColumns = {
    "id": {"data_type": "bigint", "nullable": False},
    "name": {"data_type": "text"},
    "account__id": {"data_type": "bigint"},
    "account__number": {"data_type": "text"},
    "account__agency": {"data_type": "text"},
    "account__balance": {"data_type": "double"},
    "account__limit": {"data_type": "double"},
    "card__id": {"data_type": "bigint"},
    "card__number": {"data_type": "text"},
    "card__limit": {"data_type": "double"},
    "is_mock": {"data_type": "bool", "nullable": False},
    "extracted_from": {"data_type": "text", "nullable": False},
    "_extracted_at": {"data_type": "timestamp", "nullable": False},
}
MISSING_USER_COLUMNS: TTableSchemaColumns = {
    "id": {"data_type": "bigint", "nullable": False},
    "reason": {"data_type": "text", "nullable": False},
    "http_status": {"data_type": "bigint"},
    "is_mock": {"data_type": "bool", "nullable": False},
    "extracted_from": {"data_type": "text", "nullable": False},
    "_extracted_at": {"data_type": "timestamp", "nullable": False},
}
MISSING_USERS_HINTS: dict[str, Any] = {
    "table_name": "missing_users",
    "write_disposition": "replace",
    "primary_key": "id",
    "columns": MISSING_USER_COLUMNS,
}


@dataclass(frozen=True)
class MissingUser:
    user_id: int
    reason: str
    http_status: int | None = None


@dataclass(frozen=True)
class Lineage:
    """Where this extract's rows came from and when it started: stamped on every row, child rows too."""

    extracted_from: str  # "api" or "mock"
    extracted_at: datetime

    def columns(self) -> dict[str, Any]:
        return {
            "is_mock": self.extracted_from == "mock",
            "extracted_from": self.extracted_from,
            "_extracted_at": self.extracted_at,
        }


class UserLookup(Protocol):
    def __call__(self, user_id: int) -> dict | MissingUser: ...


@dataclass(frozen=True)
class ApiUsers:
    """Users from the CRM API, one `GET /users/{id}` each."""

    client: Client
    settings: CrmSettings

    def fetch(self, user_id: int) -> dict | MissingUser:
        """The user's record, or why there is none. `ApiUnreachable` / `CrmRefused` when no answer."""
        response = call_api(self.client, self.settings, "GET", self.settings.user_url(user_id))
        status = response.status_code
        if status == 404:
            return MissingUser(user_id, "not found (HTTP 404)", status)
        if status != 200:
            return MissingUser(user_id, f"unexpected answer (HTTP {status})", status)
        try:
            return response.json()
        except ValueError:
            return MissingUser(user_id, "the answer is not JSON", status)

    def __call__(self, user_id: int) -> dict | MissingUser:
        """As `fetch`, but an id the API keeps failing for is recorded, so the other ids go on."""
        try:
            return self.fetch(user_id)
        except ApiUnreachable as error:
            return MissingUser(user_id, str(error))


@dataclass(frozen=True)
class MockUsers:
    """The mock seed's users, shaped like the API's records."""

    records: dict[int, dict]

    def __call__(self, user_id: int) -> dict | MissingUser:
        return self.records.get(user_id) or MissingUser(user_id, "not in the mock users")


@dataclass(frozen=True)
class ExtractSummary:
    extracted_from: str  # "api", "mock", or "none" (a real run with no CRM configured)
    users_loaded: int
    users_missing: int
    duckdb_path: Path
    fallback_reason: str | None = None
    dropped_earlier_rows: bool = False

    def line(self) -> str:
        """One line for the terminal; when the data is mock, the line starts with why."""
        if self.extracted_from == "none":
            dropped = f" (dropped the {DATASET_NAME} an earlier run left)"
            return "no CRM configured: clients and segments come from your files alone" + (
                dropped if self.dropped_earlier_rows else ""
            )
        missing = (
            f"; {self.users_missing} id(s) missing, see {DATASET_NAME}.missing_users"
            if self.users_missing
            else ""
        )
        if self.fallback_reason:
            return (
                f"{self.fallback_reason} — using {self.users_loaded} mock users (is_mock = true), "
                f"loaded into {DATASET_NAME} in {self.duckdb_path}{missing}"
            )
        dropped = " (the mock rows of an earlier demo run dropped first)" if self.dropped_earlier_rows else ""
        return (
            f"CRM extract: {self.users_loaded} users from the API loaded into {DATASET_NAME} "
            f"in {self.duckdb_path}{missing}{dropped}"
        )


def read_user_ids(path: Path) -> list[int]:
    """The ids in a `UserID` CSV, in file order, each once."""
    if not path.exists():
        raise InputFileError(path, "file not found: set CRM_USER_IDS_CSV to a CSV with a `UserID` header")
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        if "UserID" not in (reader.fieldnames or []):
            raise InputFileError(path, f"expected a `UserID` header, found {reader.fieldnames}", row=1)
        user_ids: dict[int, None] = {}
        for line, row in enumerate(reader, start=2):
            value = (row["UserID"] or "").strip()
            if not value.isdigit():
                raise InputFileError(path, f"`{value}` is not a user id (a whole number)", row=line)
            user_ids[int(value)] = None
    if not user_ids:
        raise InputFileError(path, "no user ids below the `UserID` header")
    return list(user_ids)


def read_mock_users(path: Path) -> MockUsers:
    """The mock seed's flat rows, reshaped into the API's user records (no news, no features)."""
    if not path.exists():
        raise InputFileError(path, "the mock users seed is missing: restore seeds/crm_mock_users.csv")
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return MockUsers(
        {
            int(row["id"]): {
                "id": int(row["id"]),
                "name": row["name"],
                "account": {
                    "id": None,
                    "number": row["account_number"],
                    "agency": row["agency"],
                    "balance": float(row["balance"]),
                    "limit": float(row["account_limit"]),
                },
                "card": {"id": None, "number": row["card_number"], "limit": float(row["card_limit"])},
                "features": [],
                "news": [],
            }
            for row in rows
        }
    )


def with_lineage(user: dict, lineage: Lineage) -> dict:
    """The user with lineage columns, its news and features too (plus `user_id`, so staging needs no join)."""
    columns = lineage.columns()
    child_columns = {"user_id": user["id"], **columns}
    return {
        **user,
        **columns,
        "news": [{**item, **child_columns} for item in user.get("news") or []],
        "features": [{**item, **child_columns} for item in user.get("features") or []],
    }


@dlt.resource(selected=False)
def user_ids(ids: list[int]) -> Iterator[int]:
    """The ids read from the ids CSV; feeds `users` and is not a table itself."""
    yield from ids


@dlt.transformer(
    data_from=user_ids,
    parallelized=True,
    write_disposition="merge",
    primary_key="id",
    columns=USER_COLUMNS,
)
def users(user_id: int, lookup: UserLookup, lineage: Lineage) -> Any:
    """One user, or a `missing_users` row saying why not.

    Returns rather than yields: dlt runs a returning transformer's calls in its extract thread pool.
    """
    found = lookup(user_id)
    if isinstance(found, MissingUser):
        row = {"id": found.user_id, "reason": found.reason, "http_status": found.http_status}
        return dlt.mark.with_table_name({**row, **lineage.columns()}, "missing_users")
    return with_lineage(found, lineage)


@dlt.resource(name="missing_users", write_disposition="replace", columns=MISSING_USER_COLUMNS)
def missing_users() -> Iterator[Any]:
    """Only the table's schema: with `replace`, dlt then empties `missing_users` on every extract,
    a run with no missing id included; this run's rows arrive from `users`."""
    yield dlt.mark.materialize_table_schema()


@dlt.source(name="crm", max_table_nesting=1)
def crm_source(ids: list[int], lookup: UserLookup, lineage: Lineage) -> Iterator[DltResource]:
    """The users of `ids` as `lookup` finds them, and the ids it does not find."""
    fetched = user_ids(ids) | users(lookup=lookup, lineage=lineage)
    fetched.apply_hints(create_table_variant=True, **MISSING_USERS_HINTS)
    yield fetched
    yield missing_users()


def extract(settings: CrmSettings) -> ExtractSummary:
    """Load the users into `crm_raw` from the API or, in a demo, the mock.

    A real run without a CRM loads nothing (see the module's doc).
    """
    ids = read_user_ids(settings.user_ids_csv)
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    check_database_free(settings.duckdb_path)
    if not settings.api_url and not settings.allow_mock:
        dropped = drop_crm_raw(settings)
        return ExtractSummary("none", 0, 0, settings.duckdb_path, dropped_earlier_rows=dropped)

    lookup, fallback_reason = choose_users(settings, ids[0])
    dropped = False
    if not settings.allow_mock and has_mock_rows(settings.duckdb_path):
        dropped = drop_crm_raw(settings)
    lineage = Lineage("mock" if fallback_reason else "api", datetime.now(timezone.utc))
    row_counts = load(settings, crm_source(ids, lookup, lineage))
    return ExtractSummary(
        extracted_from=lineage.extracted_from,
        users_loaded=row_counts.get("users", 0),
        users_missing=row_counts.get("missing_users", 0),
        duckdb_path=settings.duckdb_path,
        fallback_reason=fallback_reason,
        dropped_earlier_rows=dropped,
    )


def choose_users(settings: CrmSettings, first_id: int) -> tuple[UserLookup, str | None]:
    """The API if it answers the first id; else, in a demo, the mock users and why.

    A refused token is an error either way (`CrmRefused`): the API is there, the settings are wrong.
    """
    if settings.api_url:
        api = ApiUsers(make_client(settings), settings)
        try:
            api.fetch(first_id)
            return api, None
        except ApiUnreachable as error:
            if not settings.allow_mock:
                raise ApiUnreachable(
                    f"{error}. A real run (client_source: csv, or crm_mock: false) never uses the mock "
                    "users: bring the API back, fix CRM_API_URL, or unset it to build the clients from "
                    "your files alone"
                ) from None
            fallback_reason = str(error)
    else:
        fallback_reason = "CRM_API_URL is not set"
    return read_mock_users(settings.mock_users_csv), fallback_reason


def extract_pipeline(settings: CrmSettings) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name="crm_extract",
        destination=dlt.destinations.duckdb(str(settings.duckdb_path)),
        dataset_name=DATASET_NAME,
        pipelines_dir=str(settings.pipelines_dir),
    )


def load(settings: CrmSettings, source: Any) -> dict[str, int]:
    """Run dlt's three steps; the rows per table this run loaded."""
    pipeline = extract_pipeline(settings)
    try:
        pipeline.extract(source, workers=settings.concurrency)
        row_counts = pipeline.normalize().row_counts
        pipeline.load()
    except PipelineStepFailed as error:
        raise marketing_error_in(error) or MarketingError(
            f"dlt could not load the CRM users into {settings.duckdb_path}: {error}"
        ) from None
    return row_counts


def has_mock_rows(duckdb_path: Path) -> bool:
    if not duckdb_path.exists():
        return False
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        (exists,) = connection.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = 'users'",
            [DATASET_NAME],
        ).fetchall()[0]
        if not exists:
            return False
        (any_mock,) = connection.execute(
            f"select coalesce(bool_or(is_mock), false) from {DATASET_NAME}.users"
        ).fetchall()[0]
        return bool(any_mock)


def drop_crm_raw(settings: CrmSettings) -> bool:
    """Drop the `crm_raw` schema and dlt's local state for it; True when there was one to drop.

    Both go together: dlt would otherwise remember tables that are no longer there.
    """
    extract_pipeline(settings).drop()
    if not settings.duckdb_path.exists():
        return False
    with duckdb.connect(str(settings.duckdb_path)) as connection:
        (existed,) = connection.execute(
            "select count(*) from information_schema.schemata where schema_name = ?", [DATASET_NAME]
        ).fetchall()[0]
        connection.execute(f"drop schema if exists {DATASET_NAME} cascade")
    return bool(existed)
