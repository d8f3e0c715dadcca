"""Repairing text mangled on its way out of a spreadsheet, as a vectorised DuckDB function.

`repair_text(varchar) -> varchar` is registered on every dbt connection by the plugin. It is a
Python UDF, so only tables may call it (a view calling it would fail in the DuckDB CLI):
`base_client_files__clients` does, for the values the SQL macro `looks_mangled(varchar)` (registered
beside it, from the same pattern) picks out, so clean values never cross into Python.

The repair is ftfy's: UTF-8 read once as Windows-1252 and saved again (`JoÃ£o` -> `João`), HTML
entities (`Jo&atilde;o`), Windows-1252 punctuation read as control codes (U+0092 -> a right quote).
Only values that look broken reach ftfy; the others are returned as they are, column-wise.
"""

from __future__ import annotations

import contextlib
import re

import duckdb
import ftfy
import pyarrow as pa
import pyarrow.compute as pc
from duckdb import sqltypes
from duckdb.func import FunctionNullHandling, PythonUDFType

__all__ = ["LOOKS_MANGLED", "looks_mangled", "register_text_functions", "repair_text", "repair_text_arrow"]

# What mangled text looks like: a C1 control code (a Windows-1252 character read as Latin-1), a
# Latin-1 letter that starts a UTF-8 sequence followed by one of its continuation bytes as Windows-1252
# shows them (`Ã£`, `Ã©`, `Â `), or an HTML entity. RE2 and Python share this syntax.
LOOKS_MANGLED = (
    r"[\x{80}-\x{9f}]"
    r"|[\x{c2}-\x{f4}][\x{80}-\x{bf}\x{152}\x{153}\x{160}\x{161}\x{178}\x{17d}\x{17e}\x{192}\x{2c6}"
    r"\x{2dc}\x{2013}\x{2014}\x{2018}-\x{201e}\x{2020}-\x{2022}\x{2026}\x{2030}\x{2039}\x{203a}\x{20ac}\x{2122}]"
    r"|&(#[0-9]+|#x[0-9a-fA-F]+|[a-zA-Z]+);"
)
# Python's `re` spells code points \U0000XXXX where RE2 writes \x{XXXX}.
_LOOKS_MANGLED_PY = re.compile(
    re.sub(r"\\x\{([0-9a-f]+)\}", lambda match: f"\\U{int(match[1], 16):08x}", LOOKS_MANGLED)
)
# Repair the encoding, not the style: curly quotes, ligatures and wide characters stay as written.
_CONFIG = ftfy.TextFixerConfig(uncurl_quotes=False, fix_latin_ligatures=False, fix_character_width=False)


def looks_mangled(text: str) -> bool:
    """True when `text` has something `repair_text` would look at."""
    return _LOOKS_MANGLED_PY.search(text) is not None


def repair_text(text: str | None) -> str | None:
    """ftfy's repair of one value; None stays None."""
    return None if text is None else ftfy.fix_text(text, _CONFIG)


def repair_text_arrow(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`repair_text` over a column: ftfy only for the values that look mangled."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    suspect = pc.fill_null(pc.match_substring_regex(values, LOOKS_MANGLED), False)
    if not pc.any(suspect).as_py():
        return values
    positions = pc.indices_nonzero(suspect).to_pylist()
    repaired = pa.array([repair_text(values[i].as_py()) for i in positions], type=values.type)
    return pc.replace_with_mask(values, suspect, repaired)


def register_text_functions(conn: duckdb.DuckDBPyConnection) -> None:
    """Create `repair_text` and the `looks_mangled` macro on the connection (idempotent)."""
    pattern = LOOKS_MANGLED.replace("'", "''")
    conn.execute(f"create or replace macro looks_mangled(text) as regexp_matches(text, '{pattern}')")
    with contextlib.suppress(duckdb.Error):  # not registered yet on this connection
        conn.remove_function("repair_text")
    conn.create_function(
        "repair_text",
        repair_text_arrow,
        [sqltypes.VARCHAR],
        sqltypes.VARCHAR,
        type=PythonUDFType.ARROW,
        null_handling=FunctionNullHandling.SPECIAL,
    )
