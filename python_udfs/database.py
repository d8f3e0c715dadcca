"""The project's DuckDB files: where they are, and a clear error when another process holds one."""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

from python_udfs.errors import DatabaseInUse

__all__ = ["cache_path", "check_database_free", "database_path", "export_dir", "memory_limit"]


def database_path() -> Path:
    """The file dbt builds into (`MARKETING_DUCKDB_PATH`, as in profiles.yml)."""
    return Path(os.environ.get("MARKETING_DUCKDB_PATH", "data/marketing.duckdb"))


def cache_path() -> Path:
    """The model-answer cache attached as `llm_cache` (`MARKETING_CACHE_PATH`, as in profiles.yml)."""
    return Path(os.environ.get("MARKETING_CACHE_PATH", "data/llm_cache.duckdb"))


def export_dir() -> Path:
    """Where the CRM exports are written: `MARKETING_EXPORT_DIR`, else `exports/` beside the database
    file (the export models' `export_location` macro says the same)."""
    return Path(os.environ.get("MARKETING_EXPORT_DIR") or database_path().parent / "exports")


_MEMORY_SIZE = re.compile(r"[0-9]+(\.[0-9]+)? ?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


def memory_limit() -> str | None:
    """DuckDB's memory limit for dbt's connection (`MARKETING_DUCKDB_MEMORY_LIMIT`, e.g. `2GB`), or
    None for DuckDB's default (80% of the machine's memory). Past it, joins, sorts and aggregates
    spill to a temporary folder beside the database file."""
    value = os.environ.get("MARKETING_DUCKDB_MEMORY_LIMIT", "").strip()
    if not value:
        return None
    if not _MEMORY_SIZE.fullmatch(value):
        raise ValueError(
            f"MARKETING_DUCKDB_MEMORY_LIMIT={value!r} is not a size: "
            "write a number and a unit, e.g. 2GB or 1500MB"
        )
    return value


def check_database_free(path: Path) -> None:
    """Fail at once, naming the holder, when another process has the file open.

    DuckDB allows one writing process per file. Without this check dbt fails later with a driver
    error in the middle of its log; with it the user reads what to do before anything starts.
    """
    if not path.exists():
        return
    try:
        duckdb.connect(str(path)).close()
    except duckdb.ConnectionException:
        return  # already open in this very process (with other settings): no other process holds it
    except duckdb.IOException as error:
        text = str(error)
        if "lock" not in text.lower():
            raise
        holder = re.search(r"held in (.+?) \(PID (\d+)\)", text)
        who = f"{holder.group(1)} (PID {holder.group(2)})" if holder else "another process"
        raise DatabaseInUse(
            f"{path} is open in {who}. DuckDB lets one process at a time open a database file "
            f"for writing: close that session (type .quit in the DuckDB CLI) and run again. "
            f"Nothing was changed."
        ) from None
