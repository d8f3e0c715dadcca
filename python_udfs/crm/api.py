"""How to talk to the CRM API: where it is, how patiently to ask, and how to word a failure.

The token is read from `CRM_API_TOKEN` only (never a flag: flags end up in shell history and `ps`),
sent as a Bearer header, and never printed: `CrmSettings` leaves it out of its repr.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from dlt.sources.helpers.requests import Client
from requests.utils import default_headers

from python_udfs.client_files.preflight import dbt_project_dir
from python_udfs.database import database_path
from python_udfs.errors import ApiUnreachable, CrmRefused, MarketingError

__all__ = ["CrmSettings", "call_api", "make_client", "marketing_error_in", "mock_allowed"]


@dataclass(frozen=True)
class CrmSettings:
    api_url: str | None = None
    api_token: str | None = field(default=None, repr=False)
    # Demo runs may stand in the mock users for a CRM that is absent or down; real runs never do.
    allow_mock: bool = True
    user_ids_csv: Path = Path("data_samples/SDW2023.csv")
    mock_users_csv: Path = Path("seeds/crm_mock_users.csv")
    duckdb_path: Path = Path("data/marketing.duckdb")
    pipelines_dir: Path = Path("data/dlt")
    timeout_seconds: float = 10.0
    max_attempts: int = 3
    backoff_seconds: float = 1.0
    concurrency: int = 4

    def __post_init__(self) -> None:
        parts = urlsplit(self.api_url or "")
        if self.api_url and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise MarketingError(
                f"CRM API URL {self.display_url!r} is not an http(s) address like https://crm.example.com"
            )

    @classmethod
    def from_environment(cls, api_url: str | None = None, *, allow_mock: bool = True) -> CrmSettings:
        """Settings from `CRM_*` variables; `api_url`, when given, wins over `CRM_API_URL`."""
        environment = os.environ
        defaults = cls()
        return cls(
            api_url=api_url or environment.get("CRM_API_URL") or None,
            api_token=environment.get("CRM_API_TOKEN") or None,
            allow_mock=allow_mock,
            # The project's own files, wherever the run's directory is.
            user_ids_csv=Path(
                environment.get("CRM_USER_IDS_CSV") or dbt_project_dir() / defaults.user_ids_csv
            ),
            mock_users_csv=Path(
                environment.get("CRM_MOCK_USERS_CSV") or dbt_project_dir() / defaults.mock_users_csv
            ),
            duckdb_path=database_path(),
            pipelines_dir=Path(environment.get("CRM_PIPELINES_DIR", defaults.pipelines_dir)),
            timeout_seconds=_number_from_environment("CRM_TIMEOUT_SECONDS", defaults.timeout_seconds),
            max_attempts=int(_number_from_environment("CRM_MAX_ATTEMPTS", defaults.max_attempts)),
            backoff_seconds=_number_from_environment("CRM_BACKOFF_SECONDS", defaults.backoff_seconds),
            concurrency=int(_number_from_environment("CRM_CONCURRENCY", defaults.concurrency)),
        )

    @property
    def display_url(self) -> str:
        """The API's address for messages: any user or password in the URL left out."""
        parts = urlsplit(self.api_url or "")
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit(parts._replace(netloc=netloc))

    def user_url(self, user_id: int) -> str:
        return f"{(self.api_url or '').rstrip('/')}/users/{user_id}"


def mock_allowed(dbt_vars: dict) -> bool:
    """Whether this run is a demo: `crm_mock` when set, else whether the clients come from the seeds.

    A real run (`client_source: csv`) must never mix the mock CRM users into real clients.
    """
    explicit = dbt_vars.get("crm_mock")
    if explicit is not None:
        return bool(explicit)
    return dbt_vars.get("client_source", "seed") != "csv"


def _number_from_environment(name: str, default: float) -> float:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise MarketingError(f"{name}={text!r} is not a number") from None
    if value <= 0:
        raise MarketingError(f"{name}={text!r} must be greater than zero")
    return value


def make_client(settings: CrmSettings) -> Client:
    """dlt's retrying HTTP client: retries connection errors, timeouts, 429 and 5xx with backoff.

    Status codes are left to the caller (`raise_for_status=False`): a 404 is an answer, not an error.
    """
    headers = default_headers()
    headers["Accept"] = "application/json"
    if settings.api_token:
        headers["Authorization"] = f"Bearer {settings.api_token}"
    return Client(
        request_timeout=settings.timeout_seconds,
        raise_for_status=False,
        request_max_attempts=settings.max_attempts,
        request_backoff_factor=settings.backoff_seconds,
        request_max_retry_delay=max(settings.backoff_seconds * 8, 1.0),
        max_connections=settings.concurrency,
        session_attrs={"headers": headers},
    )


def call_api(
    client: Client, settings: CrmSettings, method: str, url: str, **kwargs: Any
) -> requests.Response:
    """One request through the retrying client; the answer unless there was none worth having.

    Raises `ApiUnreachable` when the API gave no answer or kept answering 429/5xx after every retry,
    `CrmRefused` on 401/403. Any other status (200, 404, 422...) is the caller's to judge.
    """
    try:
        response = client.request(method, url, **kwargs)
    except requests.RequestException as error:
        raise ApiUnreachable(
            f"CRM API unreachable at {settings.display_url}: {_describe(error, settings)}"
        ) from None
    status = response.status_code
    if status in (401, 403):
        raise CrmRefused(
            f"the CRM API at {settings.display_url} refused the request (HTTP {status}): check CRM_API_TOKEN"
        )
    if status == 429 or status >= 500:  # dlt's client retried these already: the API is not answering
        raise ApiUnreachable(
            f"CRM API unreachable at {settings.display_url}: "
            f"{method} answered HTTP {status} after {settings.max_attempts} attempt(s)"
        )
    return response


def _describe(error: requests.RequestException, settings: CrmSettings) -> str:
    """What happened instead of an answer, in words, once the client has retried."""
    attempts = f"after {settings.max_attempts} attempt(s)"
    if isinstance(error, requests.Timeout):
        return f"no answer within {settings.timeout_seconds:g}s {attempts}"
    if "refused" in str(error).lower():
        return f"connection refused {attempts}"
    return f"connection failed ({type(error).__name__}) {attempts}"


def marketing_error_in(error: BaseException) -> MarketingError | None:
    """The `MarketingError` inside a dlt step failure, if one caused it.

    dlt wraps what a resource or destination raised (as `exception`, `client_exception`, or the
    cause); the original carries the message a user can act on.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, MarketingError):
            return current
        seen.add(id(current))
        current = (
            getattr(current, "client_exception", None)
            or getattr(current, "exception", None)
            or current.__cause__
            or current.__context__
        )
    return None
