"""What a client export is written in: its encoding, delimiter and header, detected from its bytes.

Detection, unless a setting forces a value:

- encoding: a byte order mark says UTF-8 or UTF-16; bytes that decode as UTF-8 are UTF-8; anything
  else is a single-byte export, and charset-normalizer tells a Windows one (Windows-1252, of which
  Latin-1 is a part) from an old DOS one (CP850, still written by some Brazilian banking systems);
- delimiter: among `;`, `,`, tab and `|`, the one that splits the header into the required columns,
  then the one that gives the most rows of the sample the header's number of fields;
- header: the first row names every required column (in any case, in any order); a file without a
  header is read positionally when its rows have exactly the required number of fields and the first
  one starts with a number.

DuckDB reads UTF-8, UTF-16 and Latin-1 itself. It refuses the bytes Windows-1252 uses for curly
quotes and dashes (0x80-0x9F) and knows no CP850: such a file needs a UTF-8 copy to be read
(`FileDialect.duckdb_encoding` is None; the preflight writes the copy).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer

from python_udfs.errors import InputFileError

__all__ = ["DELIMITERS", "SAMPLE_BYTES", "FileDialect", "detect_dialect", "detect_encoding"]

DELIMITERS = (";", ",", "\t", "|")
SAMPLE_BYTES = 1 << 16
_CHUNK = 1 << 20
_DELIMITER_NAMES = {";": "';'", ",": "','", "\t": "tab", "|": "'|'"}
# How users spell the settings.
_DELIMITER_ALIASES = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ",", "pipe": "|"}
_ENCODING_ALIASES = {
    "utf8": "utf-8-sig",
    "utf-8": "utf-8-sig",
    "utf-8-sig": "utf-8-sig",
    "utf-16": "utf-16",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
    "windows-1252": "cp1252",
    "cp1252": "cp1252",
    "cp850": "cp850",
    "dos": "cp850",
}
_ENCODING_NAMES = {
    "utf-8-sig": "UTF-8",
    "utf-16": "UTF-16",
    "latin-1": "Latin-1",
    "cp1252": "Windows-1252",
    "cp850": "DOS (CP850)",
}


@dataclass(frozen=True)
class FileDialect:
    """How to read one file: `codec` is Python's name for its encoding, `encoding_name` a reader's."""

    codec: str
    encoding_name: str
    delimiter: str
    has_header: bool
    header: tuple[str, ...]

    @property
    def duckdb_encoding(self) -> str | None:
        """What DuckDB's read_csv calls the encoding; None when DuckDB cannot read it."""
        return {"utf-8-sig": "utf-8", "utf-16": "utf-16", "latin-1": "latin-1"}.get(self.codec)

    @property
    def delimiter_name(self) -> str:
        return _DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))

    def describe(self) -> str:
        header = f"header {', '.join(self.header)}" if self.has_header else "no header (columns in order)"
        copy = "" if self.duckdb_encoding else " (read through a temporary UTF-8 copy)"
        return f"{self.encoding_name}{copy}, delimiter {self.delimiter_name}, {header}"


def _first_undecodable(path: Path, codec: str) -> tuple[int, int] | None:
    """(line, byte) of the first byte `codec` cannot decode, streaming the whole file; None if all decode."""
    decoder = codecs.getincrementaldecoder(codec)()
    lines_before = 0
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                data = pending + chunk
                line = lines_before - pending.count(b"\n") + data[: error.start].count(b"\n") + 1
                return line, data[error.start]
            lines_before += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return lines_before + 1, 0
    return None


def _has_windows_bytes(path: Path) -> bool:
    """Any byte in 0x80-0x9F: letters and punctuation in Windows-1252 and CP850, never Latin-1 text."""
    windows_bytes = bytes(range(0x80, 0xA0))
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            if len(chunk.translate(None, windows_bytes)) < len(chunk):
                return True
    return False


def detect_encoding(path: Path) -> tuple[str, str]:
    """(Python codec, what the file is) from the file's bytes."""
    with path.open("rb") as file:
        head = file.read(SAMPLE_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "UTF-8 with BOM"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "UTF-16"
    if _first_undecodable(path, "utf-8") is None:
        return "utf-8-sig", "UTF-8"
    best = charset_normalizer.from_bytes(head, cp_isolation=["cp1252", "cp850"]).best()
    if best is not None and best.encoding == "cp850":
        return "cp850", _ENCODING_NAMES["cp850"]
    if _has_windows_bytes(path):
        return "cp1252", _ENCODING_NAMES["cp1252"]
    return "latin-1", _ENCODING_NAMES["latin-1"]


def _forced_encoding(path: Path, setting: str) -> tuple[str, str]:
    codec = _ENCODING_ALIASES.get(setting.lower())
    if codec is None:
        raise InputFileError(
            path, f"unknown encoding {setting!r}: use auto, utf-8, utf-16, latin-1, windows-1252 or cp850"
        )
    if codec == "latin-1" and _has_windows_bytes(path):
        codec = "cp1252"  # what a "Latin-1" export with curly quotes or dashes really is
    if (problem := _first_undecodable(path, codec)) is not None:
        line, byte = problem
        raise InputFileError(
            path,
            f"is not valid {setting} (byte 0x{byte:02X}): set csv_encoding to auto (the default) to "
            "detect it, or to the file's encoding (exports from Excel and older systems are often latin-1)",
            row=line,
        )
    if codec not in ("utf-8-sig", "utf-16") and detect_encoding(path)[0] == "utf-8-sig":
        raise InputFileError(
            path, f"is UTF-8 but csv_encoding is {setting}: accents would be mangled; set it to auto or utf-8"
        )
    return codec, _ENCODING_NAMES[codec]


def _sample_records(text: str, delimiter: str) -> list[list[str]]:
    """The sample's records, its last (maybe cut) line left out when there are others."""
    lines = text.splitlines(keepends=True)
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]
    return [row for row in csv.reader(io.StringIO("".join(lines)), delimiter=delimiter) if row]


def _normalised(names: Sequence[str]) -> list[str]:
    return [name.strip().lstrip("\ufeff").strip().lower() for name in names]


def _choose_delimiter(text: str, required: Sequence[str]) -> str | None:
    """The candidate delimiter whose header holds the required columns and whose rows agree with it."""
    wanted = {name.lower() for name in required}
    best, best_score = None, None
    for candidate in DELIMITERS:
        records = _sample_records(text, candidate)
        if not records or len(records[0]) < 2:
            continue
        header = records[0]
        agreeing = sum(len(record) == len(header) for record in records[1:]) / max(len(records) - 1, 1)
        score = (wanted <= set(_normalised(header)), agreeing, len(header))
        if best_score is None or score > best_score:
            best, best_score = candidate, score
    return best


def _one_column_problem(path: Path, first_line: str, delimiter: str | None) -> InputFileError:
    """The header is one column: with the forced delimiter, or with every candidate (`None`)."""
    header = first_line.strip()
    if delimiter is None:
        problem = (
            f"cannot tell the delimiter: none of ; , tab or | splits the header {header!r}; "
            "set csv_delimiter to the file's delimiter"
        )
    else:
        other = next((d for d in DELIMITERS if d != delimiter and d in first_line), None)
        hint = f": the file looks delimited by {_DELIMITER_NAMES[other]}" if other else ""
        name = _DELIMITER_NAMES.get(delimiter, repr(delimiter))
        problem = (
            f"the header {header!r} has one column with delimiter {name}{hint}; "
            "set csv_delimiter to auto (the default), or to the file's delimiter"
        )
    return InputFileError(path, problem, row=1)


def _header(path: Path, records: list[list[str]], required: Sequence[str]) -> tuple[bool, tuple[str, ...]]:
    """(has_header, column names) for the first record; raises when required columns are missing."""
    header = tuple(name.strip().lstrip("\ufeff").strip() for name in records[0])
    names = _normalised(header)
    missing = [name for name in required if name.lower() not in names]
    if not missing:
        return True, header
    looks_like_data = len(header) == len(required) and header[0][:1].isdigit()
    if looks_like_data and not set(names) & {name.lower() for name in required}:
        return False, tuple(required)
    raise InputFileError(
        path,
        f"missing required column(s) {', '.join(missing)} (the header has: {', '.join(header)})",
        row=1,
    )


def detect_dialect(
    path: Path, required: Sequence[str], *, delimiter: str = "auto", encoding: str = "auto"
) -> FileDialect:
    """The file's dialect; `delimiter` and `encoding` force a value unless `auto`.

    Raises InputFileError when the file is empty, cannot be decoded as forced, or has no header line
    naming the required columns (nor looks like a headerless file of them).
    """
    if path.stat().st_size == 0:
        raise InputFileError(path, "the file is empty (not even a header line)")
    codec, encoding_name = (
        detect_encoding(path) if encoding.lower() == "auto" else _forced_encoding(path, encoding)
    )
    with path.open("rb") as file:
        text = file.read(SAMPLE_BYTES).decode(codec, errors="replace").lstrip("\ufeff")
    if not text.strip():
        raise InputFileError(path, "the file is empty (only blank lines)")
    first_line = text.lstrip("\r\n").splitlines()[0]
    if delimiter.lower() == "auto":
        chosen = _choose_delimiter(text, required)
        if chosen is None:
            raise _one_column_problem(path, first_line, None)
    else:
        chosen = _DELIMITER_ALIASES.get(delimiter.lower(), delimiter)
        if len(next(csv.reader([first_line], delimiter=chosen), [])) < 2:
            raise _one_column_problem(path, first_line, chosen)
    has_header, header = _header(path, _sample_records(text, chosen), required)
    return FileDialect(codec, encoding_name, chosen, has_header, header)
