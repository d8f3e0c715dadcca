"""Load back (reverse ETL): each client's newest `ok` investment tip becomes a news item in the CRM.

A dlt custom destination (`@dlt.destination`) receives the tips in batches. For each tip it reads the
user (`GET /users/{id}`) and, unless a news item already has the same description, appends
`{icon, description}` and sends the whole record back (`PUT /users/{id}`), as the Dev Week API
expects. That check makes a re-run push nothing twice. dlt's client retries a failed request (a PUT
of the full record is safe to repeat); a tip that still fails is recorded and the others go on.
Every attempt lands in `crm_push.tip_pushes` in the project's DuckDB file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import astuple, dataclass
from datetime import datetime, timezone
from pathlib import Path

import dlt
import duckdb
import requests
from dlt.sources.helpers.requests import Client

from python_udfs.crm.api import ApiUnreachable, CrmSettings, describe_failure, make_client
from python_udfs.database import check_database_free
from python_udfs.errors import MarketingError

__all__ = ["PushOutcome", "PushSummary", "push_tip", "push_tips", "read_newest_tips"]

TIP_ICON_URL = "https://digitalinnovationone.github.io/santander-dev-week-2023-api/icons/credit.svg"
LEDGER_TABLE = "crm_push.tip_pushes"
NEWEST_TIPS_SQL = """
select client_id, campaign_id, round, message as description
from main.marketing_messages
where campaign_id = $campaign_id and status = 'ok'
qualify row_number() over (partition by client_id order by generated_at desc, round desc) = 1
order by client_id
"""
CREATE_LEDGER_SQL = f"""
create schema if not exists crm_push;
create table if not exists {LEDGER_TABLE} (
    client_id bigint,
    campaign_id varchar,
    round integer,
    description varchar,
    outcome varchar,
    reason varchar,
    attempted_at timestamp with time zone
)
"""
OUTCOME_WORDS = {
    "pushed": "pushed",
    "already_present": "already in the CRM",
    "not_in_crm": "for clients not in the CRM",
    "failed": "failed",
}


@dataclass(frozen=True)
class PushOutcome:
    client_id: int
    campaign_id: str
    round: int
    description: str
    outcome: str  # one of OUTCOME_WORDS
    reason: str | None = None

    @classmethod
    def of(cls, tip: dict, outcome: str, reason: str | None = None) -> PushOutcome:
        return cls(tip["client_id"], tip["campaign_id"], tip["round"], tip["description"], outcome, reason)


@dataclass(frozen=True)
class PushSummary:
    outcomes: list[PushOutcome]

    @property
    def has_failures(self) -> bool:
        return any(outcome.outcome == "failed" for outcome in self.outcomes)

    def line(self) -> str:
        if not self.outcomes:
            return "CRM push: no `ok` investment tips in marketing_messages, nothing to push"
        counts = Counter(outcome.outcome for outcome in self.outcomes)
        parts = [f"{counts[kind]} tip(s) {words}" for kind, words in OUTCOME_WORDS.items() if counts[kind]]
        first_failure = next((o for o in self.outcomes if o.outcome == "failed"), None)
        if first_failure:
            parts[-1] += f" (first: client {first_failure.client_id}, {first_failure.reason})"
        return f"CRM push: {', '.join(parts)}; recorded in {LEDGER_TABLE}"


def read_newest_tips(duckdb_path: Path, campaign_id: str) -> list[dict]:
    """Each client's newest `ok` message of the campaign: `client_id, campaign_id, round, description`."""
    if not duckdb_path.exists():
        raise MarketingError(f"{duckdb_path} does not exist: run the pipeline (dbt build) before the push")
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        try:
            cursor = connection.execute(NEWEST_TIPS_SQL, {"campaign_id": campaign_id})
        except duckdb.CatalogException:
            raise MarketingError(
                f"no marketing_messages table in {duckdb_path}: run dbt build before the push"
            ) from None
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _refusal(method: str, status: int) -> str:
    hint = ": check CRM_API_TOKEN" if status in (401, 403) else ""
    return f"{method} answered HTTP {status}{hint}"


def push_tip(client: Client, settings: CrmSettings, tip: dict) -> PushOutcome:
    """Append the tip to the user's news unless it is there already. `ApiUnreachable` if no answer."""
    url = settings.user_url(tip["client_id"])
    try:
        current = client.get(url)
        if current.status_code == 404:
            return PushOutcome.of(tip, "not_in_crm", "GET answered HTTP 404")
        if current.status_code != 200:
            return PushOutcome.of(tip, "failed", _refusal("GET", current.status_code))
        user = current.json()
        news = user.get("news") or []
        if any(item.get("description") == tip["description"] for item in news):
            return PushOutcome.of(tip, "already_present")
        user["news"] = [*news, {"icon": TIP_ICON_URL, "description": tip["description"]}]
        answer = client.put(url, json=user)
    except requests.RequestException as error:
        raise ApiUnreachable(describe_failure(error, settings)) from None
    if not answer.ok:
        return PushOutcome.of(tip, "failed", _refusal("PUT", answer.status_code))
    return PushOutcome.of(tip, "pushed")


def record_outcomes(duckdb_path: Path, outcomes: list[PushOutcome]) -> None:
    attempted_at = datetime.now(timezone.utc)
    with duckdb.connect(str(duckdb_path)) as connection:
        connection.execute(CREATE_LEDGER_SQL)
        connection.executemany(
            f"insert into {LEDGER_TABLE} values (?, ?, ?, ?, ?, ?, ?)",
            [(*astuple(outcome), attempted_at) for outcome in outcomes],
        )


def push_tips(settings: CrmSettings, campaign_id: str = "investment_tips") -> PushSummary:
    """Push every client's newest tip through a dlt custom destination; record what happened."""
    if not settings.api_url:
        raise MarketingError("CRM_API_URL is not set: the push needs a CRM API to send the tips to")
    check_database_free(settings.duckdb_path)
    tips = read_newest_tips(settings.duckdb_path, campaign_id)
    if not tips:
        return PushSummary([])

    client = make_client(settings)
    outcomes: list[PushOutcome] = []
    unreachable: list[str] = []

    @dlt.destination(name="crm_api", batch_size=10, max_parallel_load_jobs=1)
    def crm_news(items: list[dict], table: dict) -> None:
        for tip in items:
            if unreachable:
                outcomes.append(PushOutcome.of(tip, "failed", unreachable[0]))
                continue
            try:
                outcomes.append(push_tip(client, settings, tip))
            except ApiUnreachable as error:
                unreachable.append(f"CRM API unreachable at {settings.display_url}: {error}")
                outcomes.append(PushOutcome.of(tip, "failed", unreachable[0]))

    pipeline = dlt.pipeline(
        pipeline_name="crm_push", destination=crm_news, pipelines_dir=str(settings.pipelines_dir)
    )
    pipeline.run(tips, table_name="investment_tips")
    record_outcomes(settings.duckdb_path, outcomes)
    return PushSummary(outcomes)
