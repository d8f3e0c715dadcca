"""The console commands for the benchmarks and the quality benchmark find the checkout or say why not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from python_udfs.checkout_tools import find_checkout
from python_udfs.errors import MarketingError

PROJECT = Path(__file__).resolve().parents[1]


def test_the_checkout_is_found_from_any_folder_inside_it():
    assert find_checkout(PROJECT / "models" / "marts") == PROJECT


def test_outside_a_checkout_the_error_says_where_to_run(tmp_path):
    with pytest.raises(MarketingError, match="run them from the cloned project's folder"):
        find_checkout(tmp_path)


@pytest.mark.parametrize(
    ("command", "usage"),
    [("bench_main", "--scale-sizes"), ("bench_ray_main", "--clients"), ("eval_main", "--baseline-clients")],
)
def test_each_command_runs_its_tool_with_the_arguments_given(command, usage):
    code = f"import sys; from python_udfs import checkout_tools as t; sys.exit(t.{command}(['--help']))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT / "models", capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert usage in result.stdout


def test_outside_a_checkout_a_command_exits_1_without_a_traceback(tmp_path):
    code = "import sys; from python_udfs import checkout_tools; sys.exit(checkout_tools.eval_main([]))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: no project checkout")
    assert "Traceback" not in result.stderr
