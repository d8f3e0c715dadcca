"""CPF (Brazilian taxpayer id) functions as DuckDB SQL macros.

Macros are stored in the database file and expand to plain SQL: views that call them read fine from
the DuckDB CLI, and they run within 2x of the same check written inline (`bench/bench_cpf.py`). Each
macro takes any text and accepts the usual spellings (`123.456.789-09`, ` 12345678909 `, `123456789`):

- `cpf_normalise(text)` -> the 11 digits, or null. `.`, `-`, spaces, tabs and line breaks are removed;
  9 or 10 digits are left-padded with zeros (spreadsheets drop leading zeros); anything else (empty,
  letters, other lengths) is null.
- `cpf_is_valid(text)` -> true when the normalised value has both correct check digits and is not
  one of the ten repeated-digit strings (`00000000000` ... `99999999999`, which pass the check
  digits); false otherwise, including null and unparseable input. Never null.
- `cpf_mask(text)` -> `***.456.789-**` (only the middle six digits shown), or null.
- `cpf_format(text)` -> `123.456.789-09`, or null.

Mask and format do not validate: they present whatever `cpf_normalise` returns.
"""

from __future__ import annotations

import duckdb

__all__ = ["MACROS", "MACRO_NAMES", "register_cpf_macros"]

# Removed anywhere in the input: '.', '-', space, tab, line feed, carriage return (RE2 escapes).
# regexp_replace with a character class is faster here than translate() or chained replace().
_STRIPPED = r"regexp_replace(cast(value as varchar), '[-. \t\n\r]', '', 'g')"

CPF_NORMALISE = f"""
create or replace macro cpf_normalise(value) as (
    case
        when regexp_full_match({_STRIPPED}, '[0-9]{{9,11}}')
            then lpad({_STRIPPED}, 11, '0')
    end
)
"""


def _digit(position: int) -> str:
    """The digit at 1-based `position` of the 11-digit CPF held as the integer `x`."""
    return f"(x // {10 ** (11 - position)} % 10)"


def _check_digit(count: int) -> str:
    """Check digit computed from the first `count` digits (9 for the first, 10 for the second).

    Weights run from count+1 down to 2; the digit is (10 * sum mod 11) mod 10, the same as
    "11 - sum mod 11, or 0 when that is 10 or 11".
    """
    terms = " + ".join(f"{_digit(i)} * {count + 2 - i}" for i in range(1, count + 1))
    return f"((({terms}) * 10) % 11) % 10"


# Private helper on the normalised CPF cast to bigint. Integer arithmetic on the whole number is
# about twice as fast as slicing the string digit by digit, and ~15x faster than list_transform
# over range(). The ten repeated-digit strings are exactly the multiples of 11111111111.
CPF_CHECK_DIGITS_MATCH = f"""
create or replace macro cpf__check_digits_match(x) as (
    {_check_digit(9)} = {_digit(10)}
    and {_check_digit(10)} = {_digit(11)}
    and x % 11111111111 <> 0
)
"""

# A macro is substituted text: every `x` in cpf__check_digits_match would repeat cpf_normalise(...).
# A select list shares the repeats (common subexpressions), a WHERE clause does not (20x slower), so
# the normalised value is bound once, as the parameter of a lambda over a one-element list.
CPF_IS_VALID = """
create or replace macro cpf_is_valid(value) as (
    coalesce(
        list_transform([cast(cpf_normalise(value) as bigint)], lambda x: cpf__check_digits_match(x))[1],
        false
    )
)
"""

# The normalised value bound once, as in cpf_is_valid: a third less time than normalising per slice.
CPF_MASK = """
create or replace macro cpf_mask(value) as (
    list_transform(
        [cpf_normalise(value)],
        lambda normalised: '***.' || normalised[4:6] || '.' || normalised[7:9] || '-**'
    )[1]
)
"""

CPF_FORMAT = """
create or replace macro cpf_format(value) as (
    cpf_normalise(value)[1:3] || '.' || cpf_normalise(value)[4:6] || '.'
    || cpf_normalise(value)[7:9] || '-' || cpf_normalise(value)[10:11]
)
"""

# In dependency order: a macro must exist before one that calls it.
MACROS: dict[str, str] = {
    "cpf_normalise": CPF_NORMALISE,
    "cpf__check_digits_match": CPF_CHECK_DIGITS_MATCH,
    "cpf_is_valid": CPF_IS_VALID,
    "cpf_mask": CPF_MASK,
    "cpf_format": CPF_FORMAT,
}
MACRO_NAMES = tuple(MACROS)


def _existing_macros(conn: duckdb.DuckDBPyConnection) -> set[str]:
    rows = conn.execute(
        "select function_name from duckdb_functions() "
        "where function_type = 'macro' and database_name = current_database() "
        "and schema_name = current_schema()"
    ).fetchall()
    return {name for (name,) in rows}


def register_cpf_macros(conn: duckdb.DuckDBPyConnection) -> None:
    """Create (or replace) the CPF macros in the connection's current database and schema.

    Safe to call on every connection: when the database is read-only, or another connection is
    creating the same macros at the same moment (a catalog write-write conflict), the error is
    tolerated as long as every macro already exists.
    """
    try:
        for sql in MACROS.values():
            conn.execute(sql)
    except duckdb.Error:
        if not set(MACRO_NAMES) <= _existing_macros(conn):
            raise
