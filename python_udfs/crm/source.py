"""Extract: the CRM's users into the `crm_raw` schema of the project's DuckDB file, with dlt.

The ids come from a CSV like the original example's `SDW2023.csv` (header `UserID`). Each user is
fetched with `GET /users/{id}` through dlt's retrying client, a few at a time, and loaded with merge
on `id`: a re-extract updates changed users and never duplicates one. dlt unnests `news` and
`features` into the child tables `users__news` and `users__features`.

The first id is asked alone. When it gets no answer (connection refused, timeouts, or 5xx after every
retry), the API is taken as down: the users come from the mock seed instead, every row is flagged
(`is_mock`, `extracted_from = 'mock'`) and the summary line says so. Once the API has answered, an id
it answers 404 for, or keeps failing for, is recorded in `missing_users` with the reason. A mock run
replaces the rows of the ids it loads, earlier API rows included: `is_mock` says which is which.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import dlt
import requests
from dlt.sources import DltResource
from dlt.sources.helpers.requests import Client

from python_udfs.crm.api import ApiUnreachable, CrmSettings, describe_failure, make_client
from python_udfs.database import check_database_free
from python_udfs.errors import InputFileError, MarketingError

__all__ = ["ExtractSummary", "MissingUser", "crm_source", "extract", "fetch_users", "read_user_ids"]

DATASET_NAME = "crm_raw"
USER_COLUMNS = {
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
MISSING_USER_COLUMNS = {
    "id": {"data_type": "bigint", "nullable": False},
    "reason": {"data_type": "text", "nullable": False},
    "http_status": {"data_type": "bigint"},
    "is_mock": {"data_type": "bool", "nullable": False},
    "extracted_from": {"data_type": "text", "nullable": False},
    "_extracted_at": {"data_type": "timestamp", "nullable": False},
}


@dataclass(frozen=True)
class MissingUser:
    user_id: int
    reason: str
    http_status: int | None = None


@dataclass(frozen=True)
class ExtractSummary:
    extracted_from: str
    users_loaded: int
    users_missing: int
    duckdb_path: Path
    fallback_reason: str | None = None

    def line(self) -> str:
        """One line for the terminal; when the data is mock, the line starts with why."""
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
        return (
            f"CRM extract: {self.users_loaded} users from the API loaded into {DATASET_NAME} "
            f"in {self.duckdb_path}{missing}"
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


def read_mock_users(path: Path) -> dict[int, dict]:
    """The mock seed's flat rows, reshaped into the API's user records (no news, no features)."""
    if not path.exists():
        raise InputFileError(path, "the mock users seed is missing: restore seeds/crm_mock_users.csv")
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return {
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


def fetch_user(client: Client, settings: CrmSettings, user_id: int) -> dict | MissingUser:
    """One user's record, or why there is none; `ApiUnreachable` when the API gave no answer."""
    try:
        response = client.get(settings.user_url(user_id))
    except requests.RequestException as error:
        raise ApiUnreachable(describe_failure(error, settings)) from None
    status = response.status_code
    if status in (401, 403):
        raise MarketingError(
            f"the CRM API at {settings.display_url} refused the request (HTTP {status}): check CRM_API_TOKEN"
        )
    if status == 429 or status >= 500:
        raise ApiUnreachable(f"HTTP {status} after {settings.max_attempts} attempt(s)")
    if status == 404:
        return MissingUser(user_id, "not found (HTTP 404)", status)
    if status != 200:
        return MissingUser(user_id, f"unexpected answer (HTTP {status})", status)
    try:
        return response.json()
    except ValueError:
        return MissingUser(user_id, "the answer is not JSON", status)


def fetch_users(settings: CrmSettings, user_ids: list[int]) -> list[dict | MissingUser]:
    """Every id's record or reason, in order. Raises `ApiUnreachable` if the first id gets no answer."""
    client = make_client(settings)
    first = fetch_user(client, settings, user_ids[0])

    def fetch_or_record(user_id: int) -> dict | MissingUser:
        try:
            return fetch_user(client, settings, user_id)
        except ApiUnreachable as error:
            return MissingUser(user_id, str(error))

    with ThreadPoolExecutor(max_workers=settings.concurrency) as pool:
        return [first, *pool.map(fetch_or_record, user_ids[1:])]


def mock_users_for(user_ids: list[int], mock_users: dict[int, dict]) -> list[dict | MissingUser]:
    return [mock_users.get(user_id) or MissingUser(user_id, "not in the mock users") for user_id in user_ids]


@dlt.source(name="crm", max_table_nesting=1)
def crm_source(
    fetched: list[dict | MissingUser], extracted_from: str, extracted_at: datetime
) -> Iterator[DltResource]:
    """The fetched users (merged on `id`) and this run's missing ids (replaced every run).

    Every row, the child tables' included, carries `is_mock`, `extracted_from` and `_extracted_at`;
    child rows carry their user's id as `user_id` too, so staging needs no join to find it.
    """
    lineage = {
        "is_mock": extracted_from == "mock",
        "extracted_from": extracted_from,
        "_extracted_at": extracted_at,
    }
    users, missing_users = [], []
    for item in fetched:
        if isinstance(item, MissingUser):
            missing_users.append(
                {"id": item.user_id, "reason": item.reason, "http_status": item.http_status, **lineage}
            )
            continue
        with_user_id = {"user_id": item["id"], **lineage}
        users.append(
            {
                **item,
                **lineage,
                "news": [{**news, **with_user_id} for news in item.get("news") or []],
                "features": [{**feature, **with_user_id} for feature in item.get("features") or []],
            }
        )
    yield dlt.resource(users, name="users", write_disposition="merge", primary_key="id", columns=USER_COLUMNS)
    yield dlt.resource(
        missing_users, name="missing_users", write_disposition="replace", columns=MISSING_USER_COLUMNS
    )


def extract(settings: CrmSettings) -> ExtractSummary:
    """Fetch the users (or fall back to the mock) and load them into `crm_raw`."""
    user_ids = read_user_ids(settings.user_ids_csv)
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    check_database_free(settings.duckdb_path)
    extracted_at = datetime.now(timezone.utc)
    fallback_reason = None
    if not settings.api_url:
        fallback_reason = "CRM_API_URL is not set"
    else:
        try:
            fetched = fetch_users(settings, user_ids)
        except ApiUnreachable as error:
            fallback_reason = f"CRM API unreachable at {settings.display_url}: {error}"
    if fallback_reason:
        fetched = mock_users_for(user_ids, read_mock_users(settings.mock_users_csv))
    extracted_from = "mock" if fallback_reason else "api"

    pipeline = dlt.pipeline(
        pipeline_name="crm_extract",
        destination=dlt.destinations.duckdb(str(settings.duckdb_path)),
        dataset_name=DATASET_NAME,
        pipelines_dir=str(settings.pipelines_dir),
    )
    pipeline.run(crm_source(fetched, extracted_from, extracted_at))
    missing = sum(isinstance(item, MissingUser) for item in fetched)
    return ExtractSummary(
        extracted_from=extracted_from,
        users_loaded=len(fetched) - missing,
        users_missing=missing,
        duckdb_path=settings.duckdb_path,
        fallback_reason=fallback_reason,
    )
