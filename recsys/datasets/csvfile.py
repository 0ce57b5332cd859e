"""Reading a CSV file that may be damaged, without losing the good rows or hiding the bad ones.

A line with too many or too few fields, an unclosed quote, or bytes that are not UTF-8 (a file
saved as Latin-1, a stray ``0xff``) does not stop the whole load: :func:`read_lines` returns
the readable rows as text, each with its physical line number, and a list of the unreadable
lines with the reason, which the validator reports like any other rejected row.

Records are one line each (true of every MovieLens-derived CSV: titles with commas are quoted
on their line). The fast path hands whole blocks of lines to pandas' C parser; a block that it
cannot parse cleanly is re-read line by line to find exactly which lines are bad, so a clean
file of millions of lines costs what ``pandas.read_csv`` costs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from recsys.errors import DataError

LINE = "_line"
BLOCK_LINES = 500_000


@dataclass
class BadLine:
    """A line that could not be read as a record."""

    line: int
    reason: str
    text: str


@dataclass
class Block:
    """Readable rows of a run of lines: string columns plus ``_line``; and the bad lines."""

    rows: pd.DataFrame
    bad: list[BadLine] = field(default_factory=list)


def _decode_header(raw: bytes, path: Path) -> list[str]:
    try:
        text = raw.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: the header line is not valid UTF-8 (byte "
                        f"0x{raw[exc.start]:02x} at column {exc.start + 1})") from None
    if not text.strip():
        raise DataError(f"{path}: the first line is empty; expected a header line with the "
                        "column names")
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error as exc:
        raise DataError(f"{path}: the header line cannot be parsed ({exc})") from None


def _read_header(handle: BinaryIO, path: Path) -> list[str]:
    """The column names on the first line of an open file (a :class:`DataError` when the
    file is empty)."""
    first = handle.readline()
    if not first:
        raise DataError(f"{path} is empty: expected a header line with the column names")
    return _decode_header(first, path)


def header(path: str | Path) -> list[str]:
    """The column names of a CSV file (its first line)."""
    path = Path(path)
    with path.open("rb") as handle:
        return _read_header(handle, path)


def _shown(raw: bytes) -> str:
    """A bad line as it can be shown in a report (bytes escaped, cut at 120 characters)."""
    text = raw.decode("utf-8", errors="backslashreplace")
    return text if len(text) <= 120 else text[:117] + "..."


def _parse_line(raw: bytes, number: int, width: int) -> list[str] | BadLine:
    """One line as fields, or the reason it cannot be read."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadLine(number, f"line is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at "
                               f"column {exc.start + 1}); save the file as UTF-8",
                       _shown(raw))
    try:
        fields = next(csv.reader([text], strict=True))
    except csv.Error as exc:
        reason = ("unclosed quote" if "unexpected end of data" in str(exc)
                  else f"cannot be parsed as CSV ({exc})")
        return BadLine(number, f"line has an {reason}" if reason == "unclosed quote"
                       else f"line {reason}", _shown(raw))
    if len(fields) != width:
        return BadLine(number, f"line has {len(fields)} fields, expected {width}", _shown(raw))
    return fields


def _slow(lines: list[bytes], numbers: list[int], columns: list[str]) -> Block:
    rows: list[list[str]] = []
    kept: list[int] = []
    bad: list[BadLine] = []
    for raw, number in zip(lines, numbers):
        parsed = _parse_line(raw, number, len(columns))
        if isinstance(parsed, BadLine):
            bad.append(parsed)
        else:
            rows.append(parsed)
            kept.append(number)
    frame = pd.DataFrame(rows, columns=columns, dtype=object) if rows else pd.DataFrame(
        {c: pd.Series([], dtype=object) for c in columns})
    frame[LINE] = kept
    return Block(frame, bad)


def _fast(lines: list[bytes], numbers: list[int], columns: list[str]) -> Block | None:
    """The block through pandas' C parser, or None when any line needs a closer look."""
    try:
        text = b"\n".join(lines).decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        frame = pd.read_csv(io.StringIO(text), header=None, names=list(range(len(columns))),
                            dtype=str, keep_default_na=False, na_filter=False,
                            skip_blank_lines=False, engine="c")
    except (pd.errors.ParserError, ValueError):
        return None
    # a short line gets NaN fields, a quote spanning lines merges rows: look closer
    if len(frame) != len(lines) or frame.isna().to_numpy().any():
        return None
    frame.columns = columns
    frame = frame.astype(object)
    frame[LINE] = numbers
    return Block(frame)


def _lines(handle: BinaryIO, first_number: int) -> Iterator[tuple[list[bytes], list[int]]]:
    """Non-blank lines (line ending removed) in blocks, with their physical line numbers."""
    lines: list[bytes] = []
    numbers: list[int] = []
    number = first_number
    for raw in handle:
        stripped = raw.rstrip(b"\r\n")
        if stripped.strip():
            lines.append(stripped)
            numbers.append(number)
        number += 1
        if len(lines) >= BLOCK_LINES:
            yield lines, numbers
            lines, numbers = [], []
    if lines:
        yield lines, numbers


def iter_blocks(path: str | Path) -> Iterator[Block]:
    """The file's records in blocks of up to :data:`BLOCK_LINES` lines (bounded memory)."""
    path = Path(path)
    with path.open("rb") as handle:
        columns = _read_header(handle, path)
        for lines, numbers in _lines(handle, 2):
            yield _fast(lines, numbers, columns) or _slow(lines, numbers, columns)


def read_lines(path: str | Path) -> Block:
    """The whole file: every readable record (strings, ``_line`` = physical line number,
    the header being line 1) and every unreadable line with its reason."""
    path = Path(path)
    columns = header(path)
    blocks = list(iter_blocks(path))
    if not blocks:
        empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
        empty[LINE] = pd.Series([], dtype="int64")
        return Block(empty)
    rows = pd.concat([b.rows for b in blocks], ignore_index=True)
    return Block(rows, [bad for b in blocks for bad in b.bad])
