"""Everything the review page shows, read from the marts with SQL: the page's only queries live here.

Counts are aggregated by DuckDB; Python only receives what the page prints (a few rows per campaign
and round, plus at most `max_rows` messages and gaps).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from python_udfs.errors import MarketingError

__all__ = [
    "ClientGap",
    "Ledger",
    "MessageRow",
    "ReasonCount",
    "ReviewData",
    "RoundStatus",
    "SetAsideCount",
    "load_review",
]

REQUIRED_TABLES = ("marketing_messages", "clients")

# Every (campaign, round) the table holds, for every client: the rows a complete campaign would have.
# A full join keeps messages of clients no longer in `clients`, so status counts are the table's own.
_EXPECTED_ROWS = """
with

rounds as (
    select distinct campaign_id, round from marketing_messages
),

expected as (
    select clients.client_id, rounds.campaign_id, rounds.round
    from clients cross join rounds
),

joined as (
    select
        coalesce(messages.client_id, expected.client_id) as client_id,
        coalesce(messages.campaign_id, expected.campaign_id) as campaign_id,
        coalesce(messages.round, expected.round) as round,
        messages.status,
        messages.error_reason
    from marketing_messages as messages
    full join expected
        on messages.client_id = expected.client_id
        and messages.campaign_id = expected.campaign_id
        and messages.round = expected.round
)
"""

ROUND_STATUS_SQL = (
    _EXPECTED_ROWS
    + """
select
    campaign_id,
    round,
    count_if(status = 'ok') as ok,
    count_if(status = 'rejected') as rejected,
    count_if(status = 'error') as error,
    count_if(status is null) as no_message
from joined
group by campaign_id, round
order by campaign_id, round
"""
)

# The reason code is what comes before the colon of `error_reason` (`timeout: 5 s` → `timeout`).
REASONS_SQL = """
select
    campaign_id,
    round,
    status,
    coalesce(nullif(trim(split_part(error_reason, ':', 1)), ''), 'unknown') as reason,
    count(*) as messages
from marketing_messages
where status is distinct from 'ok'
group by all
order by campaign_id, round, messages desc, reason, status
"""

GAPS_SQL = (
    _EXPECTED_ROWS
    + """
select
    joined.client_id,
    clients.first_name,
    clients.cpf_masked,
    joined.campaign_id,
    joined.round,
    coalesce(joined.status, 'no message') as status,
    joined.error_reason
from joined
inner join clients on joined.client_id = clients.client_id
where joined.status is distinct from 'ok'
order by joined.client_id, joined.campaign_id, joined.round
limit $max_rows
"""
)

GAP_TOTALS_SQL = (
    _EXPECTED_ROWS
    + """
select
    -- count_if over no rows is null: a run with no clients has 0 gaps.
    coalesce(count_if(joined.status is distinct from 'ok'), 0) as gaps,
    count(distinct joined.client_id) filter (where joined.status is distinct from 'ok') as clients_with_gaps
from joined
inner join clients on joined.client_id = clients.client_id
"""
)

CLIENT_TOTALS_SQL = """
select
    count(*) as clients,
    coalesce(count_if(not exists (
        select 1 from marketing_messages as messages
        where messages.client_id = clients.client_id and messages.status = 'ok'
    )), 0) as clients_without_ok
from clients
"""

MESSAGES_SQL = """
select
    messages.client_id,
    clients.first_name,
    clients.cpf_masked,
    messages.campaign_id,
    messages.round,
    messages.status,
    messages.message,
    messages.error_reason
from marketing_messages as messages
left join clients on messages.client_id = clients.client_id
order by messages.client_id, messages.campaign_id, messages.round
limit $max_rows
"""

MESSAGE_TOTAL_SQL = "select count(*) from marketing_messages"

# The ledger is shown with whatever columns `generation_runs` has, newest run first.
LEDGER_SQL = "select * from generation_runs order by started_at desc nulls last limit $max_runs"
LEDGER_TOTAL_SQL = "select count(*) from generation_runs"

REJECTED_ROWS_BY_REASON_SQL = """
select coalesce(nullif(trim(split_part(reason, ':', 1)), ''), 'unknown') as reason, count(*) as client_rows
from rejected_client_rows
group by all
order by client_rows desc, reason
"""
REJECTED_ROWS_TOTAL_SQL = "select null as reason, count(*) as client_rows from rejected_client_rows"

TABLES_SQL = """
select table_name, list(column_name) as columns
from information_schema.columns
where table_catalog = current_database() and table_schema = current_schema()
group by table_name
"""


@dataclass(frozen=True)
class RoundStatus:
    campaign_id: str
    round: int
    ok: int
    rejected: int
    error: int
    no_message: int

    @property
    def total(self) -> int:
        return self.ok + self.rejected + self.error + self.no_message


@dataclass(frozen=True)
class ReasonCount:
    campaign_id: str
    round: int
    status: str
    reason: str
    messages: int


@dataclass(frozen=True)
class ClientMessageSlot:
    """A client's place in a campaign round, as the page names it (first name and masked CPF only)."""

    client_id: int
    first_name: str | None
    cpf_masked: str | None
    campaign_id: str
    round: int
    status: str


@dataclass(frozen=True)
class ClientGap(ClientMessageSlot):
    error_reason: str | None


@dataclass(frozen=True)
class MessageRow(ClientMessageSlot):
    message: str | None
    error_reason: str | None


@dataclass(frozen=True)
class SetAsideCount:
    """Client-file rows set aside (`rejected_client_rows`) for one reason; reason None: all reasons."""

    reason: str | None
    rows: int


@dataclass(frozen=True)
class Ledger:
    """The newest runs of `generation_runs`, column names as the table has them."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    total: int


@dataclass(frozen=True)
class ReviewData:
    database: Path
    generated_at: datetime.datetime
    max_rows: int
    rounds: list[RoundStatus]
    reasons: list[ReasonCount]
    clients: int
    clients_without_ok: int
    gaps: list[ClientGap]
    gap_total: int
    clients_with_gaps: int
    messages: list[MessageRow]
    message_total: int
    ledger: Ledger | None
    # None when the database has no `rejected_client_rows` table.
    rejected_client_rows: list[SetAsideCount] | None = None

    def reasons_for(self, campaign_id: str, round_number: int) -> list[ReasonCount]:
        return [r for r in self.reasons if (r.campaign_id, r.round) == (campaign_id, round_number)]


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    if not path.exists():
        raise MarketingError(f"{path} does not exist: build it first (`make run`).")
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as error:
        raise MarketingError(
            f"{path} cannot be opened for reading ({str(error).splitlines()[0]}): "
            f"wait for the running build to finish, or close the session holding it, and try again."
        ) from None


def _table_columns(connection: duckdb.DuckDBPyConnection, path: Path) -> dict[str, list[str]]:
    tables = dict(connection.execute(TABLES_SQL).fetchall())
    missing = [name for name in REQUIRED_TABLES if name not in tables]
    if missing:
        raise MarketingError(
            f"{path} has no {' or '.join(missing)} table: run `dbt build` (or `make run`) first."
        )
    return tables


def _rows(connection: duckdb.DuckDBPyConnection, sql: str, **parameters: Any) -> list[tuple[Any, ...]]:
    return connection.execute(sql, parameters or None).fetchall()


def _one(connection: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The single row of an aggregate query (one always comes back, even over no rows)."""
    row = connection.execute(sql).fetchone()
    assert row is not None, sql
    return row


def _ledger(connection: duckdb.DuckDBPyConnection, max_runs: int) -> Ledger:
    cursor = connection.execute(LEDGER_SQL, {"max_runs": max_runs})
    columns = [description[0] for description in cursor.description]
    rows = cursor.fetchall()
    (total,) = _one(connection, LEDGER_TOTAL_SQL)
    return Ledger(columns=columns, rows=rows, total=total)


def _rejected_client_rows(connection: duckdb.DuckDBPyConnection, columns: list[str]) -> list[SetAsideCount]:
    sql = REJECTED_ROWS_BY_REASON_SQL if "reason" in columns else REJECTED_ROWS_TOTAL_SQL
    return [SetAsideCount(*row) for row in _rows(connection, sql)]


def load_review(path: Path, max_rows: int, max_runs: int = 50) -> ReviewData:
    """Read what the page shows from the database at `path`, opened read-only."""
    with _connect(path) as connection:
        tables = _table_columns(connection, path)
        try:
            clients, clients_without_ok = _one(connection, CLIENT_TOTALS_SQL)
            gap_total, clients_with_gaps = _one(connection, GAP_TOTALS_SQL)
            (message_total,) = _one(connection, MESSAGE_TOTAL_SQL)
            return ReviewData(
                database=path,
                generated_at=datetime.datetime.now(datetime.timezone.utc),
                max_rows=max_rows,
                rounds=[RoundStatus(*row) for row in _rows(connection, ROUND_STATUS_SQL)],
                reasons=[ReasonCount(*row) for row in _rows(connection, REASONS_SQL)],
                clients=clients,
                clients_without_ok=clients_without_ok,
                gaps=[ClientGap(*row) for row in _rows(connection, GAPS_SQL, max_rows=max_rows)],
                gap_total=gap_total,
                clients_with_gaps=clients_with_gaps,
                messages=[MessageRow(*row) for row in _rows(connection, MESSAGES_SQL, max_rows=max_rows)],
                message_total=message_total,
                ledger=_ledger(connection, max_runs) if "generation_runs" in tables else None,
                rejected_client_rows=(
                    _rejected_client_rows(connection, tables["rejected_client_rows"])
                    if "rejected_client_rows" in tables
                    else None
                ),
            )
        except duckdb.BinderException as error:
            raise MarketingError(
                f"{path}: the marts do not have the columns the review reads "
                f"({str(error).splitlines()[0]}); rebuild them with `dbt build`."
            ) from None
