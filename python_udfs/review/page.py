"""Render a `ReviewData` as one HTML page: chart geometry here, markup in `template.py`."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import jinja2
from markupsafe import Markup

from python_udfs.review.queries import Ledger, ReviewData, RoundStatus
from python_udfs.review.template import PAGE_TEMPLATE, SCRIPT, STYLE

__all__ = ["render_page"]

CHART_WIDTH = 560
LABEL_WIDTH = 170
BAR_ROW_HEIGHT = 24
# Room right of the longest bar for its count and status.
BAR_AREA = CHART_WIDTH - LABEL_WIDTH - 110
# Run ids are UUIDs: their first characters tell runs apart; the whole id is the cell's tooltip.
RUN_ID_SHOWN = 8


@dataclass(frozen=True)
class Status:
    key: str
    label: str
    css: str
    color: str


STATUSES = (
    Status("ok", "ok", "ok", "#15803d"),
    Status("rejected", "rejected", "rejected", "#b45309"),
    Status("error", "error", "error", "#b91c1c"),
    Status("no_message", "no message", "no-message", "#6b7280"),
)
STATUS_COLORS = {status.key: status.color for status in STATUSES}


@dataclass(frozen=True)
class Segment:
    label: str
    count: int
    color: str
    x: float
    width: float


@dataclass(frozen=True)
class Bar:
    status: str
    reason: str
    count: int
    color: str
    y: int
    width: float


@dataclass(frozen=True)
class Panel:
    """One campaign and round: its status bar and its reasons chart."""

    row: RoundStatus
    segments: list[Segment]
    bars: list[Bar]

    @property
    def height(self) -> int:
        return len(self.bars) * BAR_ROW_HEIGHT + 4


@dataclass(frozen=True)
class LedgerColumn:
    name: str
    label: str
    numeric: bool


@dataclass(frozen=True)
class Cell:
    key: str
    text: str
    numeric: bool
    # The full value, as a tooltip, when the cell shows it shortened.
    title: str = ""


# Friendlier headers for the ledger columns the page knows; any other column shows its own name.
LEDGER_LABELS = {
    "run_id": "run",
    "started_at": "started (UTC)",
    "finished_at": "finished (UTC)",
    "rows_requested": "rows asked",
    "served_from_cache": "cache hits",
    "model_calls": "model calls",
    "http_retries": "HTTP retries",
    "ok_count": "ok",
    "rejected_count": "rejected",
    "error_count": "error",
    "prompt_tokens": "prompt tokens",
    "completion_tokens": "completion tokens",
    "seconds": "seconds",
}


def _segments(row: RoundStatus) -> list[Segment]:
    segments, x = [], 0.0
    for status in STATUSES:
        count = getattr(row, status.key)
        if count:
            width = CHART_WIDTH * count / row.total
            segments.append(Segment(status.label, count, status.color, round(x, 2), round(width, 2)))
            x += width
    return segments


def _panels(data: ReviewData) -> list[Panel]:
    panels = []
    for row in data.rounds:
        reasons = data.reasons_for(row.campaign_id, row.round)
        largest = max((reason.messages for reason in reasons), default=1)
        bars = [
            Bar(
                status=reason.status,
                reason=reason.reason,
                count=reason.messages,
                color=STATUS_COLORS.get(reason.status, STATUS_COLORS["no_message"]),
                y=index * BAR_ROW_HEIGHT,
                width=round(max(BAR_AREA * reason.messages / largest, 2), 2),
            )
            for index, reason in enumerate(reasons)
        ]
        panels.append(Panel(row, _segments(row), bars))
    return panels


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _ledger_table(ledger: Ledger | None) -> tuple[list[LedgerColumn], list[list[Cell]]]:
    if ledger is None:
        return [], []
    numeric = [
        all(isinstance(row[index], int | float) or row[index] is None for row in ledger.rows)
        and any(row[index] is not None for row in ledger.rows)
        for index in range(len(ledger.columns))
    ]
    columns = [
        LedgerColumn(name, LEDGER_LABELS.get(name, name.replace("_", " ")), is_numeric)
        for name, is_numeric in zip(ledger.columns, numeric, strict=True)
    ]
    rows = [
        [_ledger_cell(column, value) for column, value in zip(columns, row, strict=True)]
        for row in ledger.rows
    ]
    return columns, rows


def _ledger_cell(column: LedgerColumn, value: object) -> Cell:
    text = _cell_text(value)
    if column.name == "run_id" and len(text) > RUN_ID_SHOWN:
        return Cell(column.name, text[:RUN_ID_SHOWN], column.numeric, title=text)
    return Cell(column.name, text, column.numeric)


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    environment.filters["num"] = lambda value: f"{value:,}"
    return environment


def render_page(data: ReviewData) -> str:
    """The whole page as one string; every value from the database is HTML-escaped."""
    ledger_columns, ledger_rows = _ledger_table(data.ledger)
    totals = {status.key: sum(getattr(row, status.key) for row in data.rounds) for status in STATUSES}
    return (
        _environment()
        .from_string(PAGE_TEMPLATE)
        .render(
            data=data,
            statuses=STATUSES,
            totals=totals,
            panels=_panels(data),
            ledger_columns=ledger_columns,
            ledger_rows=ledger_rows,
            chart_width=CHART_WIDTH,
            label_width=LABEL_WIDTH,
            # The page's own CSS and script, trusted: not escaped.
            style=Markup(STYLE),
            script=Markup(SCRIPT),
        )
    )
