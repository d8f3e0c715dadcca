"""Load back (reverse ETL): each client's newest `ok` investment tip becomes a news item in the CRM.

`crm_news` is a dlt custom destination: dlt hands it the tips in batches. For each tip it reads the
user (`GET /users/{id}`) and, unless a news item already has the same description, appends
`{icon, description}` and sends the whole record back (`PUT /users/{id}`), as the Dev Week API
expects. That check makes a re-run, or a retried batch, push nothing twice.

Failures are of two kinds, and dlt handles the first:
- transient (connection refused, timeouts, 429/5xx once dlt's HTTP client has retried): the
  destination raises, dlt retries the batch (`load.raise_on_max_retries`, 5 by default) and, if it
  keeps failing, stops with the load package kept; the next push resumes from the failed batch.
- terminal, for one tip (404: the user is not in the CRM; 400/409/422: the CRM rejects the record):
  recorded, never retried, the other tips go on. A refused token (401/403) stops the push: dlt marks
  it terminal, keeps the package, and the push after the token is fixed resumes it.

Every attempt and its outcome lands in `crm_push.tip_pushes` in the project's DuckDB file, with dlt's
load id, so a resumed package's attempts line up with the ones that stopped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import dlt
import duckdb
from dlt.common.exceptions import TerminalException
from dlt.common.schema import TTableSchema
from dlt.common.typing import TDataItems
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.sources.helpers.requests import Client

from python_udfs.crm.api import CrmSettings, call_api, make_client, marketing_error_in
from python_udfs.database import check_database_free
from python_udfs.errors import ApiUnreachable, CrmRefused, MarketingError

__all__ = ["PushOutcome", "PushSummary", "crm_news", "push_tip", "push_tips", "read_newest_tips"]

PUSH_BATCH_SIZE = 10
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
    attempted_at timestamp with time zone,
    load_id varchar
);
alter table {LEDGER_TABLE} add column if not exists load_id varchar
"""
# What a tip's push came to; a summary reports each tip's settled outcome.
OUTCOME_WORDS = {
    "pushed": "pushed",
    "already_present": "already in the CRM",
    "not_in_crm": "for clients not in the CRM",
    "rejected": "rejected by the CRM",
}
# Attempts that stopped their batch: in the ledger, and settled by a retry or the push stops.
TRANSIENT_OUTCOME = "unreachable"
REFUSED_OUTCOME = "refused"


@dataclass(frozen=True)
class PushOutcome:
    client_id: int
    campaign_id: str
    round: int
    description: str
    outcome: str  # a key of OUTCOME_WORDS, TRANSIENT_OUTCOME or REFUSED_OUTCOME
    reason: str | None = None

    @classmethod
    def of(cls, tip: dict, outcome: str, reason: str | None = None) -> PushOutcome:
        return cls(tip["client_id"], tip["campaign_id"], tip["round"], tip["description"], outcome, reason)

    @property
    def tip_key(self) -> tuple[int, str, int]:
        return (self.client_id, self.campaign_id, self.round)


@dataclass(frozen=True)
class PushSummary:
    outcomes: list[PushOutcome]  # one per tip
    retried_attempts: int = 0  # attempts that hit a transient failure, their batch retried by dlt

    @property
    def has_failures(self) -> bool:
        return any(outcome.outcome == "rejected" for outcome in self.outcomes)

    def line(self) -> str:
        if not self.outcomes:
            return "CRM push: no `ok` investment tips in marketing_messages, nothing to push"
        counts = Counter(outcome.outcome for outcome in self.outcomes)
        parts = [f"{counts[kind]} tip(s) {words}" for kind, words in OUTCOME_WORDS.items() if counts[kind]]
        first_rejected = next((o for o in self.outcomes if o.outcome == "rejected"), None)
        if first_rejected:
            parts[-1] += f" (first: client {first_rejected.client_id}, {first_rejected.reason})"
        if self.retried_attempts:
            parts.append(f"{self.retried_attempts} transient failure(s) retried")
        return f"CRM push: {', '.join(parts)}; recorded in {LEDGER_TABLE}"


class _RefusedTerminally(CrmRefused, TerminalException):
    """A refused token, marked terminal for dlt: it stops the load instead of retrying the batch."""


@dataclass
class PushRun:
    """What `crm_news` needs, set by `push_tips` for the length of one push."""

    settings: CrmSettings
    client: Client
    attempts: list[PushOutcome] = field(default_factory=list)


_active_run: PushRun | None = None


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


def push_tip(client: Client, settings: CrmSettings, tip: dict) -> PushOutcome:
    """Append the tip to the user's news unless it is there already.

    Raises `ApiUnreachable` when the API gives no answer, `CrmRefused` on 401/403.
    """
    url = settings.user_url(tip["client_id"])
    current = call_api(client, settings, "GET", url)
    if current.status_code == 404:
        return PushOutcome.of(tip, "not_in_crm", "GET answered HTTP 404")
    if current.status_code != 200:
        return PushOutcome.of(tip, "rejected", f"GET answered HTTP {current.status_code}")
    user = current.json()
    news = user.get("news") or []
    if any(item.get("description") == tip["description"] for item in news):
        return PushOutcome.of(tip, "already_present")
    user["news"] = [*news, {"icon": TIP_ICON_URL, "description": tip["description"]}]
    answer = call_api(client, settings, "PUT", url, json=user)
    if answer.status_code == 404:
        return PushOutcome.of(tip, "not_in_crm", "PUT answered HTTP 404")
    if not answer.ok:
        return PushOutcome.of(tip, "rejected", f"PUT answered HTTP {answer.status_code}")
    return PushOutcome.of(tip, "pushed")


@dlt.destination(batch_size=PUSH_BATCH_SIZE, name="crm_news", max_parallel_load_jobs=1)
def crm_news(items: TDataItems, table: TTableSchema) -> None:
    """Push one batch of tips; raise on a transient failure or a refused token (see the module's doc)."""
    run = _active_run
    if run is None:
        raise MarketingError("the crm_news destination runs inside push_tips, which gives it its settings")
    outcomes: list[PushOutcome] = []
    try:
        for tip in items:
            try:
                outcomes.append(push_tip(run.client, run.settings, tip))
            except ApiUnreachable as error:
                outcomes.append(PushOutcome.of(tip, TRANSIENT_OUTCOME, str(error)))
                raise
            except CrmRefused as error:
                outcomes.append(PushOutcome.of(tip, REFUSED_OUTCOME, str(error)))
                raise _RefusedTerminally(str(error)) from None
    finally:
        record_outcomes(run.settings.duckdb_path, dlt.current.load_package_state()["load_id"], outcomes)
        run.attempts.extend(outcomes)


def record_outcomes(duckdb_path: Path, load_id: str, outcomes: list[PushOutcome]) -> None:
    attempted_at = datetime.now(timezone.utc)
    with duckdb.connect(str(duckdb_path)) as connection:
        connection.execute(CREATE_LEDGER_SQL)
        connection.executemany(
            f"insert into {LEDGER_TABLE} (client_id, campaign_id, round, description, outcome, reason,"
            " attempted_at, load_id) values (?, ?, ?, ?, ?, ?, ?, ?)",
            [(*astuple(outcome), attempted_at, load_id) for outcome in outcomes],
        )


@contextmanager
def _running(run: PushRun) -> Iterator[None]:
    global _active_run
    _active_run = run
    try:
        yield
    finally:
        _active_run = None


def push_tips(settings: CrmSettings, campaign_id: str = "investment_tips") -> PushSummary:
    """Resume any push an earlier run left unfinished, then push every client's newest tip."""
    if not settings.api_url:
        raise MarketingError("CRM_API_URL is not set: the push needs a CRM API to send the tips to")
    check_database_free(settings.duckdb_path)
    tips = read_newest_tips(settings.duckdb_path, campaign_id)
    pipeline = dlt.pipeline(
        pipeline_name="crm_push", destination=crm_news, pipelines_dir=str(settings.pipelines_dir)
    )
    run = PushRun(settings, make_client(settings))
    with _running(run):
        try:
            if pipeline.has_pending_data:
                pipeline.run()  # dlt's resume: only the batches the last push did not finish
            if tips:
                pipeline.run(tips, table_name=campaign_id)
        except PipelineStepFailed as error:
            raise _stopped(error, run) from None
    retried = sum(attempt.outcome == TRANSIENT_OUTCOME for attempt in run.attempts)
    return PushSummary(settled(run.attempts), retried_attempts=retried)


def settled(attempts: list[PushOutcome]) -> list[PushOutcome]:
    """One outcome per tip: `pushed` if an attempt pushed it (a retried batch then finds it already
    present), else its last attempt's."""
    by_tip: dict[tuple[int, str, int], PushOutcome] = {}
    for attempt in attempts:
        earlier = by_tip.get(attempt.tip_key)
        if earlier is None or earlier.outcome != "pushed":
            by_tip[attempt.tip_key] = attempt
    return list(by_tip.values())


def _stopped(error: PipelineStepFailed, run: PushRun) -> MarketingError:
    """Why the push stopped and how to go on, in words."""
    cause = marketing_error_in(error)
    pushed = sum(outcome.outcome == "pushed" for outcome in settled(run.attempts))
    so_far = f"{pushed} tip(s) pushed before it stopped, every attempt recorded in {LEDGER_TABLE}"
    if isinstance(cause, CrmRefused):
        return CrmRefused(
            f"CRM push stopped: {cause}. dlt kept the load package: once the token is fixed, run the "
            f"push again to resume from the refused batch ({so_far})"
        )
    if isinstance(cause, ApiUnreachable):
        return ApiUnreachable(
            f"CRM push stopped: {cause}. dlt retried the batch and kept the load package: run the push "
            f"again to resume from that batch ({so_far})"
        )
    return MarketingError(f"CRM push failed in dlt's {error.step} step: {error}")
