"""Wall time and peak memory of a command's whole process tree, and the machine it ran on."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

__all__ = ["Measured", "machine_info", "median", "run_measured"]

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_bytes: int
    returncode: int
    output: str

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_bytes / 2**20


def _descendants(pid: int) -> list[int]:
    pids, index = [pid], 0
    while index < len(pids):
        # A process or task may end between listing and reading: it then has no children to add.
        with contextlib.suppress(OSError):
            for task in list(Path(f"/proc/{pids[index]}/task").glob("*/children")):
                with contextlib.suppress(OSError):
                    pids.extend(int(child) for child in task.read_text().split())
        index += 1
    return pids


def _tree_rss_bytes(pid: int) -> int:
    total = 0
    for member in _descendants(pid):
        # statm's second field: resident pages (the process may have ended meanwhile).
        with contextlib.suppress(OSError, IndexError):
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * _PAGE_SIZE
    return total


def run_measured(command: list[str], *, env: dict[str, str], cwd: Path) -> Measured:
    """Run `command`, polling the resident memory of it and all its children every 50 ms.

    The peak is the larger of the polled tree sum and the kernel's own high-water mark of the
    largest process (`wait4`'s ru_maxrss), which catches a spike shorter than a polling interval.
    The kernel's mark counts only when it is above this process's own: a forked child starts with a
    copy of its parent's memory, so its mark is never below the parent's (measured: after the
    benchmark had prefilled a million clients' answers, every command it ran "peaked" at its
    3.6 GB). This process's mark is read once the command has ended: read before, it may miss the
    few pages starting the command takes, and the child's copy of it would then count.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak = 0
    stop = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss_bytes(process.pid))
            stop.wait(_POLL_SECONDS)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    stop.set()
    poller.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    kernel_peak = usage.ru_maxrss * 1024
    parent_peak = _own_peak_rss_bytes()
    return Measured(
        seconds=seconds,
        peak_rss_bytes=max(peak, kernel_peak if kernel_peak > parent_peak else 0),
        returncode=process.returncode,
        output=output,
    )


def _own_peak_rss_bytes() -> int:
    """This process's high-water mark of resident memory (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def machine_info() -> dict:
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    versions = {
        name: metadata.version(name)
        for name in ("duckdb", "dbt-core", "dbt-duckdb", "openai", "llama_cpp_python")
    }
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": round(memory_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }
