"""The DuckDB side of a run: which (client, campaign, round) rows are missing, and each round's rows.

Everything set-based happens here, in SQL on a private in-memory connection: the targets the
settings ask for, the ok messages already written, where rejected or failed rows continue their
attempts, and for each round the missing rows with their context (the client's earlier messages in
the campaign, the previous round's ideas of the few clients just before). Python only ever sees a
round as arrow, and turns it into `RoundRow` records a chunk at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from python_udfs.generation.output import OUTPUT_SCHEMA
from python_udfs.generation.prompts import MessageContext
from python_udfs.generation.records import Campaign, RoundRow
from python_udfs.generation.settings import Settings

__all__ = ["CONTEXT_COLUMNS", "OFFERS_SCHEMA", "Round", "RunPlan", "as_arrow"]

# The columns of a round that become `MessageContext` fields, by the same name: what the prompt may
# read about a client. Only what `_ROUND_SQL` selects can appear, and it selects nothing else: a new
# prompt input is a column there, a name here and a field of `MessageContext`.
CONTEXT_COLUMNS = ("first_name", "segment", "offer", "earlier_messages", "ideas_to_avoid")
# What `offers` holds (the campaign_offers model's columns the generation reads): none, no offers.
OFFERS_SCHEMA = pa.schema(
    [("client_id", pa.int32()), ("campaign_id", pa.string()), ("round", pa.int32()), ("offer", pa.string())]
)


def as_arrow(data) -> pa.Table | None:
    """Arrow from what dbt-duckdb hands over: a relation, a record batch reader or a table."""
    if data is None or isinstance(data, pa.Table):
        return data
    if isinstance(data, duckdb.DuckDBPyRelation):
        return data.to_arrow_table()
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    return pa.table(data)


@dataclass(frozen=True)
class Round:
    """A round's missing rows, in (campaign, client) order, as arrow; records on demand."""

    number: int
    table: pa.Table
    campaigns: dict[str, Campaign]
    # The `temperature` setting: when set, every campaign samples at it.
    temperature_override: float | None

    def __len__(self) -> int:
        return self.table.num_rows

    def temperatures(self) -> dict[str, float]:
        """Each campaign's sampling temperature in this round (the `temperature` setting, if set)."""
        return {
            campaign_id: campaign.sampling_temperature(self.temperature_override)
            for campaign_id, campaign in self.campaigns.items()
        }

    def rows_at(self, positions: list[int]) -> list[RoundRow]:
        """The records of the rows at `positions`."""
        return self._records(self.table.take(pa.array(positions, pa.int64())), positions)

    def _records(self, table: pa.Table, positions) -> list[RoundRow]:
        columns = {name: _python_values(table.column(name)) for name in table.column_names}
        temperatures = self.temperatures()
        return [
            RoundRow(
                context=context,
                seed_key=f"{client_id}|{context.campaign_id}|{self.number}",
                temperature=temperatures[context.campaign_id],
                client_id=client_id,
                round=self.number,
                first_attempt=max(int(first_attempt or 1), 1),
                position=position,
            )
            for position, client_id, first_attempt, context in zip(
                positions,
                columns["client_id"],
                columns["first_attempt"],
                self._contexts(columns),
                strict=True,
            )
        ]

    def contexts(self, table: pa.Table) -> list[MessageContext]:
        """The prompt context of each row of `table` (campaign_id and the CONTEXT_COLUMNS)."""
        return self._contexts({name: _python_values(table.column(name)) for name in table.column_names})

    def _contexts(self, columns: dict[str, list]) -> list[MessageContext]:
        """Each row's prompt context. Equal contexts are one shared object: a first round has one
        per campaign, first name and segment, not one per client."""
        built: dict[tuple, MessageContext] = {}
        contexts = []
        for campaign_id, *values in zip(
            columns["campaign_id"], *(columns[name] for name in CONTEXT_COLUMNS), strict=True
        ):
            key = (campaign_id, *values)
            context = built.get(key)
            if context is None:
                campaign = self.campaigns[campaign_id]
                context = built[key] = MessageContext(
                    campaign_id=campaign_id,
                    instructions=campaign.instructions,
                    max_characters=campaign.max_characters,
                    **dict(zip(CONTEXT_COLUMNS, values, strict=True)),
                )
            contexts.append(context)
        return contexts


class RunPlan:
    """The targets of one run and the ok messages so far, on a private DuckDB connection.

    `offers` (client_id, campaign_id, round, offer) gives a row the catalogue phrase its prompt
    opens with; a row without one gets a prompt without an offer.
    """

    def __init__(self, clients, campaigns, existing, settings: Settings, offers=None) -> None:
        self.settings = settings
        self._work = duckdb.connect()
        self._work.register("clients_in", as_arrow(clients))
        self._work.register("campaigns_in", as_arrow(campaigns))
        self._work.register("existing_in", as_arrow(existing) or OUTPUT_SCHEMA.empty_table())
        self._work.register("offers_in", as_arrow(offers) or OFFERS_SCHEMA.empty_table())
        self._create_targets()
        self._create_history()
        self.campaigns = self._campaigns()
        #: Rows the run must settle: every target without an ok message.
        self.total: int = self._scalar(
            "select count(*) from targets anti join messages using (client_id, campaign_id, round)"
        )

    def round(self, number: int) -> Round:
        """The round's missing rows with their context, from the finished previous round."""
        table = self._work.execute(
            _ROUND_SQL.format(
                round=number,
                previous=number - 1,
                ideas_preceding=max(self.settings.ideas_size - 1, 0),
                ideas_size=self.settings.ideas_size,
                history_size=self.settings.history_size,
            )
        ).to_arrow_table()
        return Round(number, table, self.campaigns, self.settings.temperature)

    def remember_ok(self, rows: pa.Table) -> None:
        """Add a round's ok messages (client_id, campaign_id, round, message) for the next round."""
        if rows.num_rows:
            self._work.register("new_ok", rows.select(["client_id", "campaign_id", "round", "message"]))
            self._work.execute("insert into messages select * from new_ok")
            self._work.unregister("new_ok")

    def close(self) -> None:
        self._work.close()

    def _scalar(self, sql: str) -> int:
        row = self._work.execute(sql).fetchone()
        return int(row[0]) if row else 0

    def _create_targets(self) -> None:
        """The campaigns the settings ask for, and every (client, campaign, round) of them."""
        settings = self.settings
        only_clients = list(settings.only_client_ids) if settings.only_client_ids else None
        segment = "c.segment" if "segment" in self._work.table("clients_in").columns else "null"
        self._work.execute(
            """
            create temp table generated_campaigns as
            select campaign_id, instructions, max_characters, temperature
            from campaigns_in
            where kind = 'generated'
                and coalesce(is_active, true)
                and (cast($campaigns as varchar[]) is null or list_contains($campaigns, campaign_id))
            """,
            {"campaigns": _listed(settings.campaigns)},
        )
        # Per row only what differs between rows: a campaign's instructions stay in its own table.
        self._work.execute(
            f"""
            create temp table targets as
            select
                cast(c.client_id as integer) as client_id,
                c.first_name,
                {segment} as segment,
                k.campaign_id,
                cast(r.round as integer) as round,
                o.offer
            from clients_in as c
            cross join generated_campaigns as k
            cross join range(1, $rounds + 1) as r (round)
            left join offers_in as o
                on o.client_id = c.client_id and o.campaign_id = k.campaign_id and o.round = r.round
            where (cast($clients as integer[]) is null or list_contains($clients, c.client_id))
                and nullif(trim(c.first_name), '') is not null
            """,
            {"rounds": int(settings.rounds), "clients": only_clients},
        )

    def _create_history(self) -> None:
        """The ok messages already written, and where each row not ok yet continues its attempts."""
        self._work.execute(
            """
            create temp table messages as
            select client_id, campaign_id, round, message from existing_in where status = 'ok'
            """
        )
        # A rejected row continues after its last (rejected, cached) answer; a failed row at the
        # attempt that failed (no answer was cached for it).
        next_attempt = (
            "case when status = 'rejected' then coalesce(attempts, 0) + 1 "
            "else greatest(coalesce(attempts, 1), 1) end"
            if "attempts" in self._work.table("existing_in").columns
            else "1"
        )
        self._work.execute(
            f"""
            create temp table continued as
            select client_id, campaign_id, round, max({next_attempt}) as first_attempt
            from existing_in
            where status is distinct from 'ok'
            group by client_id, campaign_id, round
            """
        )

    def _campaigns(self) -> dict[str, Campaign]:
        rows = self._work.execute(
            "select campaign_id, instructions, max_characters, temperature from generated_campaigns"
        ).fetchall()
        return {
            campaign_id: Campaign(campaign_id, instructions or "", max_characters or 160, temperature)
            for campaign_id, instructions, max_characters, temperature in rows
        }


def _python_values(column: pa.ChunkedArray) -> list:
    """A column as Python values; lists as tuples, and an all-empty list column (every first round)
    as one shared empty tuple, without converting millions of empty lists."""
    if not pa.types.is_list(column.type):
        return column.to_pylist()
    if not (pc.max(pc.list_value_length(column)).as_py() or 0):
        return [()] * len(column)
    return [tuple(values) if values else () for values in column.to_pylist()]


def _listed(values: tuple[str, ...] | None) -> list[str] | None:
    return list(values) if values else None


# Recent ideas: the previous round's messages of the few clients just before this one (by id).
_ROUND_SQL = """
with

todo as (
    select t.*
    from targets as t
    anti join messages as m using (client_id, campaign_id, round)
    where t.round = {round}
),

history as (
    select client_id, campaign_id, list(message order by round desc) as earlier_messages
    from messages
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
    from messages
    where round = {previous}
)

select
    todo.client_id,
    todo.campaign_id,
    todo.first_name,
    todo.segment,
    todo.offer,
    coalesce(history.earlier_messages[1:{history_size}], []) as earlier_messages,
    coalesce(previous.ideas, [])[1:{ideas_size}] as ideas_to_avoid,
    coalesce(continued.first_attempt, 1) as first_attempt
from todo
left join history using (client_id, campaign_id)
left join continued using (client_id, campaign_id, round)
asof left join previous
    on todo.campaign_id = previous.campaign_id and todo.client_id > previous.client_id
order by todo.campaign_id, todo.client_id
"""
