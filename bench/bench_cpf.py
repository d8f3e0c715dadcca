"""Benchmark: the CPF macros against the same check in plain SQL, an arrow UDF and a Python UDF.

    python bench/bench_cpf.py [results.json] [--rows 1000000] [--repeats 5] [--python-rows 50000]

One million generated CPF strings (a quarter each: valid bare, valid punctuated, random, and short
values that lost their leading zeros) in an in-memory DuckDB table. Each implementation runs the same
aggregate over all rows, once to warm up and then in interleaved rounds (so background load hits them
alike); the row-at-a-time Python UDF (about 90 s per million rows) runs on a sample and its time is
scaled. The script prints a Markdown table of medians and their ratio to the plain-SQL version, and
writes everything as JSON (default `bench/results/cpf.json`). Every implementation must return the
same count, so a fast wrong answer fails the run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from stdnum.br import cpf as stdnum_cpf

from python_udfs.cpf import register_cpf_macros

DEFAULT_OUTPUT = Path("bench/results/cpf.json")
WEIGHTS_1 = np.arange(10, 1, -1)
WEIGHTS_2 = np.arange(11, 1, -1)

# --- the data ------------------------------------------------------------------------------------

GENERATE = """
create or replace table cpfs as
with
random_digits as (
    select i, lpad(cast(hash(i, 'cpf') % 1000000000 as varchar), 9, '0') as base
    from range({rows}) as r (i)
),
with_check_digits as (
    select
        i,
        base || cast(d1 as varchar) || cast(((s2 + d1 * 2) * 10 % 11) % 10 as varchar) as valid_cpf,
        base || lpad(cast(hash(i, 'dv') % 100 as varchar), 2, '0') as random_cpf
    from (
        select
            i, base, s2,
            (s1 * 10 % 11) % 10 as d1
        from (
            select
                i, base,
                list_sum(list_transform(range(9), lambda k: cast(base[k + 1] as integer) * (10 - k))) as s1,
                list_sum(list_transform(range(9), lambda k: cast(base[k + 1] as integer) * (11 - k))) as s2
            from random_digits
        )
    )
)
select
    case i % 4
        when 0 then valid_cpf
        when 1 then
            valid_cpf[1:3] || '.' || valid_cpf[4:6] || '.' || valid_cpf[7:9] || '-' || valid_cpf[10:11]
        when 2 then random_cpf
        else ltrim(valid_cpf[1:2], '0') || valid_cpf[3:11]
    end as value
from with_check_digits
order by i
"""

# --- the implementations -------------------------------------------------------------------------

# The same rules written by hand in plain SQL, in one query, no macros. Two spellings of the check
# digits: the arithmetic the macro uses (the baseline for the ratios), and string slicing.
INLINE_NORMALISE = (
    "case when regexp_full_match(regexp_replace(value, '[-. \\t\\n\\r]', '', 'g'), '[0-9]{9,11}') "
    "then lpad(regexp_replace(value, '[-. \\t\\n\\r]', '', 'g'), 11, '0') end"
)


def _inline_is_valid_arithmetic(n: str) -> str:
    x = f"cast({n} as bigint)"
    d = [f"({x} // {10 ** (10 - i)} % 10)" for i in range(11)]
    s1 = " + ".join(f"{d[i]} * {10 - i}" for i in range(9))
    s2 = " + ".join(f"{d[i]} * {11 - i}" for i in range(10))
    return (
        f"coalesce({x} % 11111111111 <> 0 and ({s1}) * 10 % 11 % 10 = {d[9]} "
        f"and ({s2}) * 10 % 11 % 10 = {d[10]}, false)"
    )


def _inline_is_valid_substr(n: str) -> str:
    d = [f"cast(substr({n}, {i}, 1) as integer)" for i in range(1, 12)]
    s1 = " + ".join(f"{d[i]} * {10 - i}" for i in range(9))
    s2 = " + ".join(f"{d[i]} * {11 - i}" for i in range(10))
    return (
        f"coalesce({n} <> repeat(substr({n}, 1, 1), 11) and ({s1}) * 10 % 11 % 10 = {d[9]} "
        f"and ({s2}) * 10 % 11 % 10 = {d[10]}, false)"
    )


def normalise_arrow(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    stripped = pc.replace_substring_regex(values, r"[.\- \t\n\r]", "")
    padded = pc.utf8_lpad(stripped, 11, "0")
    return pc.if_else(
        pc.match_substring_regex(stripped, r"^[0-9]{9,11}$"), padded, pa.scalar(None, pa.string())
    )


def is_valid_arrow(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    normalised = normalise_arrow(values)
    present = pc.is_valid(normalised).to_numpy(zero_copy_only=False)
    filled = pc.fill_null(normalised, "00000000000").cast(pa.string())
    offsets = np.frombuffer(filled.buffers()[1], dtype=np.int32)[
        filled.offset : filled.offset + len(filled) + 1
    ]
    data = np.frombuffer(filled.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    digits = (data.reshape(len(filled), 11) - 48).astype(np.int64)
    d1 = (digits[:, :9] @ WEIGHTS_1) * 10 % 11 % 10
    d2 = (digits[:, :10] @ WEIGHTS_2) * 10 % 11 % 10
    repeated = (digits == digits[:, :1]).all(axis=1)
    valid = present & (d1 == digits[:, 9]) & (d2 == digits[:, 10]) & ~repeated
    return pa.array(valid)


def is_valid_python(value: str | None) -> bool:
    if value is None:
        return False
    digits = value.replace(".", "").replace("-", "").replace(" ", "")
    if not (digits.isascii() and digits.isdigit() and 9 <= len(digits) <= 11):
        return False
    digits = digits.zfill(11)
    return digits != digits[0] * 11 and stdnum_cpf.is_valid(digits)


# {table} is `cpfs` (all rows), or `cpfs_sample` for the row-at-a-time Python UDF, which takes about
# 90 s per million rows here: it runs on --python-rows rows and its time is scaled to all rows.
IMPLEMENTATIONS: dict[str, dict[str, str]] = {
    "cpf_is_valid": {
        "sql macro": "select count_if(cpf_is_valid(value)) from {table}",
        "plain sql": (
            f"with normalised as (select {INLINE_NORMALISE} as n from {{table}}) "
            f"select count_if({_inline_is_valid_arithmetic('n')}) from normalised"
        ),
        "plain sql, digits by substr": (
            f"with normalised as (select {INLINE_NORMALISE} as n from {{table}}) "
            f"select count_if({_inline_is_valid_substr('n')}) from normalised"
        ),
        "arrow udf": "select count_if(cpf_is_valid_arrow(value)) from {table}",
        "python udf (stdnum, row at a time)": "select count_if(cpf_is_valid_python(value)) from {table}",
    },
    "cpf_is_valid in where": {
        "sql macro": "select count(*) from {table} where cpf_is_valid(value)",
        "plain sql": (
            f"with normalised as (select {INLINE_NORMALISE} as n from {{table}}) "
            f"select count(*) from normalised where {_inline_is_valid_arithmetic('n')}"
        ),
        "arrow udf": "select count(*) from {table} where cpf_is_valid_arrow(value)",
    },
    "cpf_normalise": {
        "sql macro": "select count(cpf_normalise(value)) from {table}",
        "plain sql": f"select count({INLINE_NORMALISE}) from {{table}}",
        "arrow udf": "select count(cpf_normalise_arrow(value)) from {table}",
    },
}
SLOW = "python udf (stdnum, row at a time)"


def connect() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    register_cpf_macros(connection)
    connection.create_function("cpf_is_valid_arrow", is_valid_arrow, ["VARCHAR"], "BOOLEAN", type="arrow")
    connection.create_function("cpf_normalise_arrow", normalise_arrow, ["VARCHAR"], "VARCHAR", type="arrow")
    connection.create_function(
        "cpf_is_valid_python", is_valid_python, ["VARCHAR"], "BOOLEAN", null_handling="special"
    )
    return connection


def timed(connection, sql: str) -> tuple[float, int]:
    start = time.perf_counter()
    (answer,) = connection.execute(sql).fetchone()
    return time.perf_counter() - start, answer


def run(rows: int, repeats: int, python_rows: int, log: Callable[[str], None] = print) -> dict:
    """Warm each query up once, then run the implementations in turn, `repeats` rounds."""
    connection = connect()
    connection.execute(GENERATE.format(rows=rows))
    python_rows = min(python_rows, rows)
    connection.execute(f"create table cpfs_sample as select * from cpfs limit {python_rows}")
    queries = {
        (function, name): sql.replace("{table}", "cpfs_sample" if name == SLOW else "cpfs")
        for function, implementations in IMPLEMENTATIONS.items()
        for name, sql in implementations.items()
    }
    runs: dict[tuple[str, str], list[float]] = {key: [] for key in queries}
    answers = {key: timed(connection, sql)[1] for key, sql in queries.items()}
    expected_sample = timed(connection, queries["cpf_is_valid", "sql macro"].replace("cpfs", "cpfs_sample"))[
        1
    ]
    for function in IMPLEMENTATIONS:
        wanted = {name: answer for (f, name), answer in answers.items() if f == function and name != SLOW}
        if len(set(wanted.values())) != 1:
            raise SystemExit(f"{function}: implementations disagree: {wanted}")
    if answers["cpf_is_valid", SLOW] != expected_sample:
        raise SystemExit(f"python udf disagrees: {answers['cpf_is_valid', SLOW]} != {expected_sample}")
    for round_number in range(repeats):
        for key, sql in queries.items():
            runs[key].append(timed(connection, sql)[0])
        log(f"  round {round_number + 1}/{repeats} done")

    results = []
    for (function, name), times in runs.items():
        measured_rows = python_rows if name == SLOW else rows
        median = statistics.median(times)
        results.append(
            {
                "function": function,
                "implementation": name,
                "rows_measured": measured_rows,
                "runs_s": times,
                "median_s": median,
                "median_s_all_rows": median * rows / measured_rows,
            }
        )
    for result in results:
        plain = next(
            r["median_s_all_rows"]
            for r in results
            if r["function"] == result["function"] and r["implementation"] == "plain sql"
        )
        result["ratio_to_plain_sql"] = result["median_s_all_rows"] / plain
    macro_ratios = [r["ratio_to_plain_sql"] for r in results if r["implementation"] == "sql macro"]
    return {
        "rows": rows,
        "repeats": repeats,
        "python_udf_rows": python_rows,
        "duckdb_version": duckdb.__version__,
        "threads": connection.execute("select current_setting('threads')").fetchone()[0],
        "python": platform.python_version(),
        "results": results,
        "max_macro_ratio_to_plain_sql": max(macro_ratios),
        "macros_within_3x_of_plain_sql": max(macro_ratios) <= 3,
    }


def markdown(report: dict) -> str:
    lines = [
        f"CPF functions over {report['rows']:,} rows (DuckDB {report['duckdb_version']}, "
        f"{report['threads']} threads; median of {report['repeats']} interleaved runs; the row-at-a-time "
        f"Python UDF measured on {report['python_udf_rows']:,} rows and scaled)",
        "",
        "| function | implementation | median (s) | ratio to plain SQL |",
        "| --- | --- | ---: | ---: |",
    ]
    for r in report["results"]:
        cells = [
            f"`{r['function']}`",
            r["implementation"],
            f"{r['median_s_all_rows']:.3f}",
            f"{r['ratio_to_plain_sql']:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    verdict = "within" if report["macros_within_3x_of_plain_sql"] else "NOT within"
    lines += [
        "",
        f"SQL macros are {verdict} 3x of plain SQL (worst: {report['max_macro_ratio_to_plain_sql']:.2f}x).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT, help="JSON results path")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--python-rows", type=int, default=50_000, help="rows for the slow row-at-a-time UDF (time is scaled)"
    )
    args = parser.parse_args(argv)
    report = run(args.rows, args.repeats, args.python_rows, log=lambda line: print(line, file=sys.stderr))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
