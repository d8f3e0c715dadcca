"""The DuckDB side of a run: which (client, campaign, round) rows are missing, each round's rows,
and every row settled.

Everything set-based happens here, in SQL on the run's connection (the one the response cache is
attached to): the targets the settings ask for, the ok messages already written, where rejected or
failed rows continue their attempts, for each round the missing rows with their context (the
client's earlier messages in the campaign, the previous round's ideas of the few clients just
before), and the output. A round is handed on as a `Round` (`rounds`): Python only ever sees
the rows that need a model call.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from python_udfs.generation.output import OUTPUT_SCHEMA
from python_udfs.generation.records import Campaign
from python_udfs.generation.rounds import Round
from python_udfs.generation.settings import Settings
from python_udfs.generation.sql import bind, column_definitions

__all__ = ["OFFERS_SCHEMA", "OUTPUT_TABLE", "RunPlan", "as_arrow"]

# What `offers` holds (the campaign_offers model's columns the generation reads): none, no offers.
OFFERS_SCHEMA = pa.schema(
    [("client_id", pa.int32()), ("campaign_id", pa.string()), ("round", pa.int32()), ("offer", pa.string())]
)

# A run's temporary tables on its connection are all named `generation_...` (`RunPlan.close` drops
# them). This one holds every row settled so far (OUTPUT_SCHEMA).
OUTPUT_TABLE = "generation_output"
# The inputs, registered as views.
_INPUTS = {
    "clients": "generation_clients_in",
    "campaigns": "generation_campaigns_in",
    "existing": "generation_existing_in",
    "offers": "generation_offers_in",
}
_NEW_ROWS_VIEW = "generation_new_rows_in"


def as_arrow(data) -> pa.Table | None:
    """Arrow from what dbt-duckdb hands over: a relation, a record batch reader or a table."""
    if data is None or isinstance(data, pa.Table):
        return data
    if isinstance(data, duckdb.DuckDBPyRelation):
        return data.to_arrow_table()
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    return pa.table(data)


class RunPlan:
    """The targets of one run, the ok messages so far and the rows settled, in DuckDB.

    Everything lives in temporary tables (named `generation_...`) of `connection`: the one the
    response cache is attached to, so a round's keys are looked up in the cache without leaving
    DuckDB, and a million settled rows never become Python objects. Without a connection the plan
    works on a private in-memory one. Inputs may be arrow or relations of `connection` (dbt's refs:
    read where they are, never copied into Python).

    `offers` (client_id, campaign_id, round, offer) gives a row the catalogue phrase its prompt
    opens with; a row without one gets a prompt without an offer.
    """

    def __init__(
        self,
        clients,
        campaigns,
        existing,
        settings: Settings,
        offers=None,
        *,
        connection: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        self.settings = settings
        self._owns_connection = connection is None
        self._work = duckdb.connect() if connection is None else connection
        self._register(_INPUTS["clients"], clients)
        self._register(_INPUTS["campaigns"], campaigns)
        self._register(_INPUTS["existing"], existing, OUTPUT_SCHEMA)
        self._register(_INPUTS["offers"], offers, OFFERS_SCHEMA)
        self._create_targets()
        self._create_history()
        self._work.execute(
            f"create or replace temp table {OUTPUT_TABLE} ({column_definitions(OUTPUT_SCHEMA)})"
        )
        self.campaigns = self._campaigns()
        #: Rows the run must settle: every target without an ok message.
        self.total: int = self._scalar(
            "select count(*) from generation_targets anti join generation_messages "
            "using (client_id, campaign_id, round)"
        )

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        return self._work

    def round(self, number: int) -> Round:
        """The round's missing rows with their context, from the finished previous round."""
        self._work.execute(f"drop table if exists temp.main.generation_round_{number - 1}")
        table_name = f"generation_round_{number}"
        # A first round (and any round after one that wrote nothing) has no ideas to pass on: no as-of
        # join, which sorts every row of the round even against no previous messages (1.5 s a million).
        has_ideas = self._scalar(f"select count(*) from generation_messages where round = {number - 1}") > 0
        self._work.execute(
            f"create or replace temp table {table_name} as "
            + _ROUND_SQL.format(
                round=number,
                previous=number - 1,
                ideas_preceding=max(self.settings.ideas_size - 1, 0),
                ideas_size=self.settings.ideas_size,
                history_size=self.settings.history_size,
                recent_ideas=_RECENT_IDEAS_JOIN if has_ideas else _NO_RECENT_IDEAS,
            )
        )
        if number == self.settings.rounds:
            # What plans the rounds is not needed once the last one is made: freed now, not at the
            # end of the run (a million clients' targets alone hold 220 MB; the earlier messages of
            # an incremental run as much again).
            for name in ("generation_targets", "generation_continued", "generation_messages"):
                self._work.execute(f"drop table {name}")
        size = self._scalar(f"select count(*) from {table_name}")
        return Round(number, size, self.campaigns, self.settings.temperature, self._work)

    def add_output(self, rows: pa.Table) -> None:
        """Add rows (OUTPUT_SCHEMA) to the run's output: the outcomes of the round's jobs."""
        if rows.num_rows:
            self._work.register(_NEW_ROWS_VIEW, rows)
            try:
                self._work.execute(f"insert into {OUTPUT_TABLE} by name select * from {_NEW_ROWS_VIEW}")
            finally:
                self._work.unregister(_NEW_ROWS_VIEW)

    def remember_ok(self, number: int) -> None:
        """Round `number`'s ok messages, settled or new, become context for the next round (after
        the last round there is none, and the tables that plan rounds are gone)."""
        if number >= self.settings.rounds:
            return
        self._work.execute(
            f"""
            insert into generation_messages
            select client_id, campaign_id, round, message
            from {OUTPUT_TABLE}
            where round = {int(number)} and status = 'ok'
            """
        )

    def output(self) -> duckdb.DuckDBPyRelation:
        """The run's rows (OUTPUT_SCHEMA) in (round, campaign, client) order, however settled."""
        return self._work.sql(f"select * from {OUTPUT_TABLE} order by round, campaign_id, client_id")

    def close(self, *, keep_output: bool = False) -> None:
        """Drop the run's temporary tables (but the output when `keep_output`: a relation reads it)."""
        if self._owns_connection:
            self._work.close()
            return
        names = self._work.execute(
            "select table_name from duckdb_tables() "
            "where temporary and starts_with(table_name, 'generation_')"
        ).fetchall()
        for (name,) in names:
            if not (keep_output and name == OUTPUT_TABLE):
                self._work.execute(f"drop table if exists temp.main.{name}")
        for view in _INPUTS.values():
            self._work.unregister(view)

    def _register(self, view: str, data, empty: pa.Schema | None = None) -> None:
        """`data` as a view: a relation of this connection as it is, anything else as arrow."""
        if data is None:
            data = empty.empty_table() if empty is not None else None
        if isinstance(data, duckdb.DuckDBPyRelation):
            try:
                self._work.register(view, data)
                self._work.execute(f"select * from {view} limit 0")
                return
            except duckdb.InvalidInputException:
                # A relation of another connection cannot be scanned here: read it as arrow.
                pass
        self._work.register(view, as_arrow(data))

    def _scalar(self, sql: str) -> int:
        row = self._work.execute(sql).fetchone()
        return int(row[0]) if row else 0

    def _create_targets(self) -> None:
        """The campaigns the settings ask for, and every (client, campaign, round) of them."""
        settings = self.settings
        only_clients = list(settings.only_client_ids) if settings.only_client_ids else None
        segment = "c.segment" if "segment" in self._work.table(_INPUTS["clients"]).columns else "null"
        campaigns_sql = f"""
            create or replace temp table generation_campaigns as
            select campaign_id, instructions, max_characters, temperature
            from {_INPUTS["campaigns"]}
            where kind = 'generated'
                and coalesce(is_active, true)
                and (cast($campaigns as varchar[]) is null or list_contains($campaigns, campaign_id))
            """
        self._work.execute(bind(campaigns_sql, {"campaigns": _listed(settings.campaigns)}))
        # Per row only what differs between rows: a campaign's instructions stay in its own table.
        targets_sql = f"""
            create or replace temp table generation_targets as
            select
                cast(c.client_id as integer) as client_id,
                c.first_name,
                {segment} as segment,
                k.campaign_id,
                cast(r.round as integer) as round,
                o.offer
            from {_INPUTS["clients"]} as c
            cross join generation_campaigns as k
            cross join range(1, $rounds + 1) as r (round)
            left join {_INPUTS["offers"]} as o
                on o.client_id = c.client_id and o.campaign_id = k.campaign_id and o.round = r.round
            where (cast($clients as integer[]) is null or list_contains($clients, c.client_id))
                and nullif(trim(c.first_name), '') is not null
            """
        self._work.execute(bind(targets_sql, {"rounds": int(settings.rounds), "clients": only_clients}))

    def _create_history(self) -> None:
        """The ok messages already written, and where each row not ok yet continues its attempts."""
        existing = _INPUTS["existing"]
        self._work.execute(
            f"""
            create or replace temp table generation_messages as
            select client_id, campaign_id, round, message from {existing} where status = 'ok'
            """
        )
        # A rejected row continues after its last (rejected, cached) answer; a failed row at the
        # attempt that failed (no answer was cached for it).
        next_attempt = (
            "case when status = 'rejected' then coalesce(attempts, 0) + 1 "
            "else greatest(coalesce(attempts, 1), 1) end"
            if "attempts" in self._work.table(existing).columns
            else "1"
        )
        self._work.execute(
            f"""
            create or replace temp table generation_continued as
            select client_id, campaign_id, round, max({next_attempt}) as first_attempt
            from {existing}
            where status is distinct from 'ok'
            group by client_id, campaign_id, round
            """
        )

    def _campaigns(self) -> dict[str, Campaign]:
        rows = self._work.execute(
            "select campaign_id, instructions, max_characters, temperature from generation_campaigns"
        ).fetchall()
        return {
            campaign_id: Campaign(campaign_id, instructions or "", max_characters or 160, temperature)
            for campaign_id, instructions, max_characters, temperature in rows
        }


def _listed(values: tuple[str, ...] | None) -> list[str] | None:
    return list(values) if values else None


# Recent ideas: the previous round's messages of the few clients just before this one (by id).
_ROUND_SQL = """
with

todo as (
    select t.*
    from generation_targets as t
    anti join generation_messages as m using (client_id, campaign_id, round)
    where t.round = {round}
),

history as (
    select client_id, campaign_id, list(message order by round desc) as earlier_messages
    from generation_messages
    where round < {round}
    group by client_id, campaign_id
),

previous as (
    select
        campaign_id,
        client_id,
        list(message) over (
            partition by campaign_id order by client_id
            rows between {ideas_preceding} preceding and current row
        ) as ideas
    from generation_messages
    where round = {previous}
)

select
    row_number() over (order by todo.campaign_id, todo.client_id) - 1 as position,
    todo.client_id,
    todo.campaign_id,
    todo.first_name,
    todo.segment,
    todo.offer,
    coalesce(history.earlier_messages[1:{history_size}], []) as earlier_messages,
    coalesce(recent.ideas, [])[1:{ideas_size}] as ideas_to_avoid,
    coalesce(continued.first_attempt, 1) as first_attempt
from todo
left join history using (client_id, campaign_id)
left join generation_continued as continued using (client_id, campaign_id, round)
{recent_ideas}
order by todo.campaign_id, todo.client_id
"""

_RECENT_IDEAS_JOIN = """asof left join previous as recent
    on todo.campaign_id = recent.campaign_id and todo.client_id > recent.client_id"""
_NO_RECENT_IDEAS = "cross join (select null::varchar[] as ideas) as recent"
