"""A round's missing rows as the run hands them on: a temporary DuckDB table, and records on demand.

`planning` builds the table; `keys` and `replay` key and settle its rows in SQL; only the rows that
need a model call become `RoundRow` records (`Round.rows_at`).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from python_udfs.generation.prompts import MessageContext
from python_udfs.generation.records import Campaign, RoundRow

__all__ = ["CONTEXT_COLUMNS", "Round"]

# The columns of a round that become `MessageContext` fields, by the same name: what the prompt may
# read about a client. Only what the planning's round SQL selects can appear, and it selects nothing
# else: a new prompt input is a column there, a name here and a field of `MessageContext`.
CONTEXT_COLUMNS = ("first_name", "segment", "offer", "earlier_messages", "ideas_to_avoid")
_POSITIONS_VIEW = "generation_positions_in"


@dataclass(frozen=True)
class Round:
    """A round's missing rows, in a temporary table of the run's connection; records on demand.

    `table_name` holds them in (campaign, client) order, numbered by `position` from 0: client_id,
    campaign_id, the CONTEXT_COLUMNS and first_attempt; the plan drops it when the next round
    starts. Only the rows that need a model call ever come into Python (`rows_at`); the bulk replay
    keys and settles the rest in DuckDB.
    """

    number: int
    size: int
    campaigns: dict[str, Campaign]
    # The `temperature` setting: when set, every campaign samples at it.
    temperature_override: float | None
    connection: duckdb.DuckDBPyConnection

    def __len__(self) -> int:
        return self.size

    @property
    def table_name(self) -> str:
        return f"generation_round_{self.number}"

    def temperatures(self) -> dict[str, float]:
        """Each campaign's sampling temperature in this round (the `temperature` setting, if set)."""
        return {
            campaign_id: campaign.sampling_temperature(self.temperature_override)
            for campaign_id, campaign in self.campaigns.items()
        }

    def arrow(self) -> pa.Table:
        """Every row, in position order."""
        return self.connection.execute(f"select * from {self.table_name} order by position").to_arrow_table()

    def rows_at(self, positions: list[int]) -> list[RoundRow]:
        """The records of the rows at `positions`, in position order."""
        if not positions:
            return []
        self.connection.register(_POSITIONS_VIEW, pa.table({"position": pa.array(positions, pa.int64())}))
        try:
            table = self.connection.execute(
                f"select * from {self.table_name} semi join {_POSITIONS_VIEW} using (position) "
                "order by position"
            ).to_arrow_table()
        finally:
            self.connection.unregister(_POSITIONS_VIEW)
        return self._records(table)

    def _records(self, table: pa.Table) -> list[RoundRow]:
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
                columns["position"],
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


def _python_values(column: pa.ChunkedArray) -> list:
    """A column as Python values; lists as tuples, and an all-empty list column (every first round)
    as one shared empty tuple, without converting millions of empty lists."""
    if not pa.types.is_list(column.type):
        return column.to_pylist()
    if not (pc.max(pc.list_value_length(column)).as_py() or 0):
        return [()] * len(column)
    return [tuple(values) if values else () for values in column.to_pylist()]
