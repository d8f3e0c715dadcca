"""The campaign review page: one static HTML file beside the database, for a marketer to read.

    marketing-review [--database data/marketing.duckdb] [--output PATH] [--max-rows 5000]
    python -m python_udfs.review

Per campaign and round: messages by status, why messages were rejected or failed (bar charts), the
clients without an `ok` message, the run ledger, and every message in a sortable, searchable table
(first name and masked CPF only). No server and no network: CSS, charts (SVG) and the small
sort/search script are inline, and the page reads fine with scripts disabled.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from python_udfs.database import database_path
from python_udfs.errors import MarketingError
from python_udfs.review.page import render_page
from python_udfs.review.queries import load_review

__all__ = ["DEFAULT_MAX_ROWS", "main", "review_line", "review_path", "write_review"]

# Enough for every message of a few thousand clients while the page stays a few megabytes.
DEFAULT_MAX_ROWS = 5000
PAGE_NAME = "campaign_review.html"


def review_path(database: Path) -> Path:
    """Where the page for `database` is written: beside it."""
    return database.with_name(PAGE_NAME)


def write_review(database: Path, output: Path | None = None, max_rows: int = DEFAULT_MAX_ROWS) -> Path:
    """Read the marts of `database` (read-only) and write the page; return its path."""
    page = render_page(load_review(database, max_rows=max_rows))
    target = output or review_path(database)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written whole then renamed, so a browser never shows half a page.
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, target)
    return target


def review_line(database: Path) -> str:
    """The pipeline's last line: where the page is, or why it was not written."""
    try:
        return f"Campaign review: {write_review(database).resolve()}"
    except MarketingError as error:
        return f"Campaign review not written: {error}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="marketing-review", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", type=Path, help="the DuckDB file (default: MARKETING_DUCKDB_PATH)")
    parser.add_argument("--output", type=Path, help=f"the page to write (default: {PAGE_NAME} beside it)")
    parser.add_argument(
        "--max-rows",
        type=int,
        default=DEFAULT_MAX_ROWS,
        help="messages (and clients without one) listed on the page; counts always cover every row",
    )
    args = parser.parse_args(argv)
    if args.max_rows < 0:
        parser.error("--max-rows must be 0 or more")
    try:
        path = write_review(args.database or database_path(), args.output, args.max_rows)
    except MarketingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(path.resolve())
    return 0
