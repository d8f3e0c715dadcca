"""The CPF macros against known values and against python-stdnum, the reference implementation."""

from __future__ import annotations

import random

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.br import cpf as stdnum_cpf
from stdnum.util import clean

from python_udfs.cpf import MACRO_NAMES, register_cpf_macros
from python_udfs.plugin import Plugin

REPEATED = [str(d) * 11 for d in range(10)]


@pytest.fixture(scope="module")
def conn():
    connection = duckdb.connect()
    register_cpf_macros(connection)
    yield connection
    connection.close()


def call(conn, macro: str, value):
    return conn.execute(f"select {macro}(?)", [value]).fetchone()[0]


# --- reference: what each macro must return, written with stdnum -----------------------------------


def expected_normalise(value: str | None) -> str | None:
    if value is None:
        return None
    digits = clean(value, ".- \t\n\r")  # stdnum's compact() minus its strip() of other whitespace
    if digits.isascii() and digits.isdigit() and 9 <= len(digits) <= 11:
        return digits.zfill(11)
    return None


def expected_is_valid(value: str | None) -> bool:
    normalised = expected_normalise(value)
    return normalised is not None and normalised not in REPEATED and stdnum_cpf.is_valid(normalised)


def expected_format(value: str | None) -> str | None:
    normalised = expected_normalise(value)
    return None if normalised is None else stdnum_cpf.format(normalised)


def expected_mask(value: str | None) -> str | None:
    formatted = expected_format(value)
    return None if formatted is None else "***" + formatted[3:11] + "-**"


# --- known values --------------------------------------------------------------------------------

SEED_CPFS = {  # the six clients of the original example: only Maria's CPF has right check digits
    "João": ("12345678910", False),
    "Maria": ("98765432100", True),
    "Pedro": ("11122233344", False),
    "Lucia": ("44455566677", False),
    "Ana": ("77788899990", False),
    "Carlos": ("22233344455", False),
}


@pytest.mark.parametrize(("name", "cpf", "valid"), [(n, c, v) for n, (c, v) in SEED_CPFS.items()])
def test_seed_cpfs(conn, name, cpf, valid):
    assert call(conn, "cpf_is_valid", cpf) is valid
    assert stdnum_cpf.is_valid(cpf) is valid


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("987.654.321-00", "98765432100"),
        (" 987 654 321 00 ", "98765432100"),
        ("987654321-00", "98765432100"),
        ("123456789", "00123456789"),  # 9 digits: two leading zeros lost
        ("1234567890", "01234567890"),  # 10 digits: one leading zero lost
        ("012.345.678-90", "01234567890"),
        ("12345678", None),  # too short to be a CPF that lost zeros
        ("123456789012", None),
        ("123.456.789-0A", None),
        ("", None),
        ("   ", None),
        (None, None),
        ("١٢٣٤٥٦٧٨٩٠٩", None),  # Arabic-Indic digits are not CPF digits
    ],
)
def test_normalise(conn, value, normalised):
    assert call(conn, "cpf_normalise", value) == normalised


@pytest.mark.parametrize("value", REPEATED)
def test_repeated_digits_are_invalid_although_their_check_digits_pass(conn, value):
    assert call(conn, "cpf_is_valid", value) is False


@pytest.mark.parametrize(
    ("value", "valid"),
    [("529.982.247-25", True), ("52998224725", True), ("52998224726", False), ("1234567890", True)],
)
def test_is_valid_accepts_any_spelling(conn, value, valid):
    assert call(conn, "cpf_is_valid", value) is valid


@pytest.mark.parametrize("value", [None, "", "abc", "12345678"])
def test_is_valid_is_false_never_null(conn, value):
    assert call(conn, "cpf_is_valid", value) is False


def test_mask_and_format(conn):
    assert call(conn, "cpf_mask", "12345678909") == "***.456.789-**"
    assert call(conn, "cpf_format", "12345678909") == "123.456.789-09"
    assert call(conn, "cpf_format", "123456789") == "001.234.567-89"
    assert call(conn, "cpf_mask", "abc") is None
    assert call(conn, "cpf_format", None) is None


# --- properties against stdnum -------------------------------------------------------------------

SEPARATOR = st.sampled_from(["", "", "", ".", "-", " ", "\t"])


@st.composite
def cpf_like(draw) -> str:
    """Digit strings of 8-12 digits, sometimes valid, with separators and stray characters."""
    length = draw(st.integers(min_value=8, max_value=12))
    digits = draw(st.lists(st.sampled_from("0123456789"), min_size=length, max_size=length))
    if length == 11 and draw(st.booleans()):
        digits[9:] = stdnum_cpf._calc_check_digits("".join(digits[:9]))
    parts = [digit + draw(SEPARATOR) for digit in digits]
    if draw(st.integers(0, 9)) == 0:
        parts.insert(draw(st.integers(0, len(parts))), draw(st.sampled_from(["a", "/", "_", "+", "x"])))
    return draw(SEPARATOR) + "".join(parts)


values = st.one_of(cpf_like(), st.sampled_from(REPEATED), st.text(max_size=14), st.none())


@settings(max_examples=300, deadline=None)
@given(value=values)
def test_macros_agree_with_stdnum(conn, value):
    row = conn.execute(
        "select cpf_normalise($1), cpf_is_valid($1), cpf_mask($1), cpf_format($1)", [value]
    ).fetchone()
    assert row == (
        expected_normalise(value),
        expected_is_valid(value),
        expected_mask(value),
        expected_format(value),
    )


def generated_cpfs(count: int, seed: int = 20240101) -> list[str]:
    """Half with right check digits, in the spellings exports use: bare, punctuated, lost zeros."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        digits = "".join(rng.choice("0123456789") for _ in range(9))
        digits += stdnum_cpf._calc_check_digits(digits) if i % 2 else f"{rng.randrange(100):02d}"
        match i % 5:
            case 0:
                out.append(stdnum_cpf.format(digits))
            case 1:
                out.append(digits.lstrip("0") or "0")
            case 2:
                out.append(f" {digits[:3]} {digits[3:6]} {digits[6:9]}-{digits[9:]} ")
            case _:
                out.append(digits)
    return out


def test_one_hundred_thousand_generated_cpfs_agree_with_stdnum(conn):
    cpfs = generated_cpfs(100_000)
    expected = pa.table(
        {
            "value": cpfs,
            "normalised": [expected_normalise(v) for v in cpfs],
            "is_valid": [expected_is_valid(v) for v in cpfs],
            "masked": [expected_mask(v) for v in cpfs],
            "formatted": [expected_format(v) for v in cpfs],
        }
    )
    conn.register("expected_cpfs", expected)
    total, valid, disagreements = conn.execute(
        """
        select
            count(*),
            count_if(is_valid),
            count_if(
                cpf_normalise(value) is distinct from normalised
                or cpf_is_valid(value) is distinct from is_valid
                or cpf_mask(value) is distinct from masked
                or cpf_format(value) is distinct from formatted
            )
        from expected_cpfs
        """
    ).fetchone()
    conn.unregister("expected_cpfs")
    assert total == 100_000
    assert 40_000 < valid < 60_000  # the generator really mixes valid and invalid
    assert disagreements == 0


# --- registration ---------------------------------------------------------------------------------


def macro_names(connection) -> set[str]:
    rows = connection.execute(
        "select function_name from duckdb_functions() where function_type = 'macro'"
    ).fetchall()
    return {name for (name,) in rows}


def test_plugin_registers_the_macros_on_a_fresh_connection():
    plugin = Plugin(name="plugin", plugin_config={}, credentials=None)  # as dbt-duckdb's create() does
    connection = duckdb.connect()
    plugin.configure_connection(connection)
    assert set(MACRO_NAMES) <= macro_names(connection)
    assert connection.execute("select cpf_mask('98765432100'), cpf_is_valid('98765432100')").fetchone() == (
        "***.654.321-**",
        True,
    )


def test_plugin_configures_each_reopening_of_the_same_file(tmp_path):
    plugin = Plugin(name="plugin", plugin_config={}, credentials=None)
    path = str(tmp_path / "marketing.duckdb")
    for _ in range(2):  # dbt-duckdb closes the file when idle and opens it again later
        with duckdb.connect(path) as connection:
            plugin.configure_connection(connection)
            assert set(MACRO_NAMES) <= macro_names(connection)


def test_registering_twice_on_one_connection_replaces_the_macros(conn):
    register_cpf_macros(conn)
    assert set(MACRO_NAMES) <= macro_names(conn)


def test_macros_are_stored_in_the_file_so_views_read_without_the_plugin(tmp_path):
    path = str(tmp_path / "marketing.duckdb")
    with duckdb.connect(path) as connection:
        register_cpf_macros(connection)
        connection.execute("create view masked as select cpf_mask('12345678909') as cpf_masked")
    with duckdb.connect(path, read_only=True) as connection:  # like the DuckDB CLI: no plugin
        assert connection.execute("select cpf_masked from masked").fetchone() == ("***.456.789-**",)
        register_cpf_macros(connection)  # read-only, macros present: tolerated


def test_registering_on_a_read_only_file_without_the_macros_fails(tmp_path):
    path = str(tmp_path / "empty.duckdb")
    duckdb.connect(path).close()
    with duckdb.connect(path, read_only=True) as connection, pytest.raises(duckdb.Error):
        register_cpf_macros(connection)
