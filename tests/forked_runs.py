"""Runs of `dbt` and of the pipeline in processes forked from one that has already imported dbt.

A new `dbt` process spends about 3 s importing dbt, its DuckDB adapter and the project's plugin
before it reads a file, and the suite starts dozens of them. A fork server (multiprocessing's
`forkserver`) imports them once per pytest worker and forks every run from there. Each run is still
a process of its own, as with `subprocess.run`: its own environment, working directory, output and
exit status, and it ends with the same exit handlers (dbt-duckdb closes its database in one).

Only modules that read no environment when imported are preloaded: a run's environment is set after
the fork, and anything imported before it would have seen the server's.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["run_forked"]

PRELOAD = ["dbt.cli.main", "dbt.adapters.duckdb", "python_udfs.plugin"]

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOAD)


def run_forked(
    command: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess:
    """`subprocess.run(command, cwd=, env=, capture_output=True, text=True, timeout=)` for two commands:
    `dbt ...` and `python -m <module> ...`."""
    entry, args = _entry(command)
    with tempfile.TemporaryDirectory(prefix="forked-run-") as scratch:
        stdout, stderr = Path(scratch) / "stdout", Path(scratch) / "stderr"
        process = _context.Process(
            target=_run_child, args=(entry, list(args), dict(env), str(cwd), str(stdout), str(stderr))
        )
        process.start()
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(list(command), timeout, _read(stdout), _read(stderr))
        return subprocess.CompletedProcess(list(command), process.exitcode, _read(stdout), _read(stderr))


def _entry(command: Sequence[str]) -> tuple[str, Sequence[str]]:
    if Path(command[0]).name == "dbt":
        return "dbt", command[1:]
    if len(command) > 2 and command[1] == "-m":
        return command[2], command[3:]
    raise ValueError(f"run_forked runs `dbt ...` or `python -m module ...`, not {command[:3]}")


def _run_child(entry: str, args: list[str], env: dict[str, str], cwd: str, stdout: str, stderr: str) -> None:
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    _redirect(1, stdout)
    _redirect(2, stderr)
    sys.argv = [entry, *args]
    try:
        if entry == "dbt":
            from dbt.cli.main import cli

            cli()
        else:
            runpy.run_module(entry, run_name="__main__", alter_sys=True)
    finally:
        # multiprocessing ends its children with os._exit, which skips them; a real exit runs them.
        atexit._run_exitfuncs()


def _redirect(descriptor: int, path: str) -> None:
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(target, descriptor)
    os.close(target)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
