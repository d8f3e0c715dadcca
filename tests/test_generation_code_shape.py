"""No function in python_udfs/ longer than 60 lines: a long function is several jobs to split."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "python_udfs"
MAX_LINES = 60


def _long_functions(source: str) -> list[tuple[str, int, int]]:
    """(name, first line, length in lines) of every function or method longer than MAX_LINES."""
    return [
        (node.name, node.lineno, node.end_lineno - node.lineno + 1)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_LINES
    ]


def test_the_check_catches_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    assert _long_functions(f"def long():\n{body}\n") == [("long", 1, MAX_LINES + 1)]
    assert _long_functions("def short():\n    return 1\n") == []


def test_no_function_in_python_udfs_is_longer_than_60_lines():
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line} {name} ({length} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name, line, length in _long_functions(path.read_text(encoding="utf-8"))
    ]
    assert not found, "split these functions (at most 60 lines each):\n" + "\n".join(found)
