"""Console commands for the tools that measure the project itself: `marketing-bench`, `marketing-eval`.

The benchmarks and the quality benchmark run the repository's own models, fixtures and loopback
servers (`testkit`, which is not shipped in the package) and rewrite its docs, so they live in the
checkout, not in the installed package. These commands find the checkout from the working directory
and run the tool there, with every argument passed through.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from python_udfs.errors import MarketingError

__all__ = ["bench_main", "bench_ray_main", "eval_main", "find_checkout"]

# What marks the project's root: dbt's project file beside the tools these commands run.
_MARKERS = ("dbt_project.yml", "bench", "evaluation", "testkit")


def find_checkout(start: Path) -> Path:
    """The nearest folder at or above `start` that holds the project's checkout."""
    for folder in (start, *start.parents):
        if all((folder / marker).exists() for marker in _MARKERS):
            return folder
    raise MarketingError(
        f"no project checkout at or above {start}: these commands measure the repository itself "
        "(its models, fixtures and test servers); run them from the cloned project's folder."
    )


def _run_in_checkout(module: str, prog: str, argv: list[str] | None) -> int:
    try:
        root = find_checkout(Path.cwd())
    except MarketingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    sys.path.insert(0, str(root))
    sys.argv = [prog, *(sys.argv[1:] if argv is None else argv)]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return 0


def bench_main(argv: list[str] | None = None) -> int:
    """`marketing-bench`: `make bench` (writes docs/BENCHMARKS.md)."""
    return _run_in_checkout("bench.run", "marketing-bench", argv)


def bench_ray_main(argv: list[str] | None = None) -> int:
    """`marketing-bench-ray`: `make bench-ray` (writes bench/results/ray_scaling.json)."""
    return _run_in_checkout("bench.ray_scaling", "marketing-bench-ray", argv)


def eval_main(argv: list[str] | None = None) -> int:
    """`marketing-eval`: `make eval` (writes docs/QUALITY.md)."""
    return _run_in_checkout("evaluation.run", "marketing-eval", argv)
