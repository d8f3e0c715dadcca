"""A DuckDB file held by another process stops the run at once, clearly, harmlessly."""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from tests.reliability_support import DUCKDB_CLI, project_env, run_pipeline

# A DuckDB CLI session and the pipeline, each a subprocess: seconds a test, outside the fast lane.
pytestmark = pytest.mark.slow


class CliSession:
    """A real `duckdb` CLI process with the file open, kept alive through its stdin pipe."""

    def __init__(self, path: Path, *options: str) -> None:
        self.process = subprocess.Popen(
            [str(DUCKDB_CLI), *options, "-noheader", "-list", str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Wait until the CLI has the file open: it answers a query only then.
        self.process.stdin.write("select 'ready';\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline().strip()
        assert line == "ready", f"the DuckDB CLI did not start: {line!r} {self.process.stderr.read()}"

    def holds(self, pid: int) -> bool:
        """Whether `pid` is this session: the `duckdb` entry point itself or the binary it started."""
        if pid == self.process.pid:
            return True
        stat = Path(f"/proc/{pid}/stat").read_text()
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        return parent == self.process.pid

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.write(".quit\n")
            self.process.stdin.flush()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def files(tmp_path):
    """A database and a cache with a little data, and the environment that points at them."""
    # Absolute: the runs here stop before dbt starts, and the messages must name these paths.
    env = project_env(
        tmp_path,
        MARKETING_DUCKDB_PATH=str(tmp_path / "marketing.duckdb"),
        MARKETING_CACHE_PATH=str(tmp_path / "llm_cache.duckdb"),
    )
    for name in ("MARKETING_DUCKDB_PATH", "MARKETING_CACHE_PATH"):
        with duckdb.connect(env[name]) as connection:
            connection.execute(
                "create table kept as select range as i, 'row ' || range as label from range(1000)"
            )
    return env


def fingerprint(path: str) -> tuple:
    with duckdb.connect(path, read_only=True) as connection:
        rows = connection.execute(
            "select count(*), sum(i), string_agg(label, ',' order by i) from kept"
        ).fetchone()
        tables = connection.execute("select table_name from duckdb_tables() order by all").fetchall()
    return rows[0], rows[1], hashlib.sha256(rows[2].encode()).hexdigest(), tables


@pytest.mark.parametrize("held", ["MARKETING_DUCKDB_PATH", "MARKETING_CACHE_PATH"])
def test_a_file_open_in_the_duckdb_cli_stops_the_run_at_once_with_the_fix(files, held):
    before = fingerprint(files[held])
    session = CliSession(Path(files[held]))
    try:
        started = time.monotonic()
        result = run_pipeline(["--no-show"], files, timeout=60)
        seconds = time.monotonic() - started
        holder = re.search(r"PID (\d+)", result.stderr)
        named_the_session = bool(holder) and session.holds(int(holder.group(1)))
    finally:
        session.close()
    print(f"held {held}: exit {result.returncode} after {seconds:.1f}s: {result.stderr.strip()}")
    assert result.returncode == 1
    assert seconds < 15, "the check must fail before dbt starts, not after a build attempt"
    message = result.stderr
    assert files[held] in message
    assert named_the_session, "the message names the process holding the file by its PID"
    assert ".quit" in message, "the message says how to release the file"
    assert "Traceback" not in message
    assert "dbt build" not in result.stdout, "dbt must not start while the file is held"
    assert fingerprint(files[held]) == before


def test_after_the_session_closes_the_same_files_are_free_again(files):
    session = CliSession(Path(files["MARKETING_DUCKDB_PATH"]))
    session.close()
    from python_udfs.database import check_database_free

    check_database_free(Path(files["MARKETING_DUCKDB_PATH"]))  # raises DatabaseInUse if still held


def test_a_read_only_cli_session_also_blocks_the_run_and_the_advice_does_not_suggest_one(files):
    """A `duckdb -readonly` session holds a shared lock: dbt cannot open the file for writing.

    So "open it read-only while dbt runs" is not a way out, and the message must not offer it.
    """
    path = files["MARKETING_DUCKDB_PATH"]
    session = CliSession(Path(path), "-readonly")
    try:
        result = run_pipeline(["--no-show"], files, timeout=60)
    finally:
        session.close()
    assert result.returncode == 1
    assert "PID" in result.stderr
    assert "-readonly" not in result.stderr, (
        "the advice says a read-only session may stay open while dbt runs, but it blocks dbt too: "
        + result.stderr
    )
