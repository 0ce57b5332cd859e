"""Reading a course CSV as text and checking it column by column with the rules of
:mod:`recsys.rules`: each check records the rows it rejects (table, line, id, field, value,
reason) in a :class:`~recsys.datasets.tables.Rejections` and returns the parsed column, so
:mod:`recsys.datasets.validate` composes them table by table and nothing is dropped
silently."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recsys import rules
from recsys.datasets import csvfile
from recsys.datasets.tables import COLUMNS, FILES, GENRES, Rejections
from recsys.errors import DataError


def read_table(path: Path, table: str, rej: Rejections, label: str | None = None,
                optional_id: bool = False) -> pd.DataFrame:
    """Read one CSV as strings, check its columns, add ``_line`` and ``_raw_id``; lines that
    cannot be read at all (wrong field count, unclosed quote, bytes that are not UTF-8) go to
    the report with their line number, and the readable rows are kept."""
    label = label or table
    block = csvfile.read_lines(path)
    raw = block.rows
    # a file written by pandas names the unnamed index column "Unnamed: 0"
    raw.columns = ["" if str(c).startswith("Unnamed: 0") else c for c in raw.columns]
    if optional_id and "" not in raw.columns:  # the unnamed score id column is optional
        raw.insert(0, "", [str(i) for i in range(len(raw))])
    required = list(COLUMNS[table]) + (list(GENRES) if table == "movies" else [])
    absent = [c for c in required if c not in raw.columns]
    if absent:
        shown = ", ".join(repr(c) for c in absent)
        found = [c for c in raw.columns if c != csvfile.LINE]
        raise DataError(f"{path} lacks required column(s) {shown}; it has {found}")
    raw = raw.rename(columns=COLUMNS[table])
    raw["_raw_id"] = raw["id"]
    for bad in block.bad:
        rej.rows.append({"table": label, "line": bad.line, "id": "", "field": "(line)",
                         "value": bad.text, "reason": bad.reason, "severity": "rejected"})
    raw.attrs["unreadable"] = len(block.bad)
    return raw


def read_raw(data_dir: Path, table: str, rej: Rejections) -> pd.DataFrame:
    """One of the five course CSVs (see :func:`read_table`)."""
    path = data_dir / FILES[table]
    if not path.is_file():
        raise DataError(f"{path} is missing: expected the five course CSVs in {data_dir} "
                        "(run `recsys data fetch`, or set RECSYS_DATA_DIR)")
    return read_table(path, table, rej)


def to_int(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole numbers written as digits (nullable Int64; anything else <NA>), and a mask of
    numbers too long to be in any accepted range."""
    text = raw.astype(str).str.strip()
    whole = text.str.match(rules.INTEGER_RE.pattern)
    huge = whole & (text.str.lstrip("+-").str.len() > 18)
    values = pd.to_numeric(text.where(whole & ~huge), errors="coerce").astype("Int64")
    return values, huge


def check_int(rej: Rejections, table: str, df: pd.DataFrame, col: str,
               lo: int = rules.MIN_ID, hi: int = rules.MAX_ID,
               optional: bool = False) -> pd.Series:
    """Whole numbers in ``lo..hi`` (``196.0``, ``3.5`` and ``1e3`` are not integers);
    ``optional``: an empty field is fine (<NA>)."""
    values, huge = to_int(df[col])
    given = ~(df[col].str.strip() == "") if optional else pd.Series(True, index=df.index)
    rej.add(table, df, values.isna() & ~huge & given, col, f"{col} is not an integer")
    out = huge | (values.notna() & ((values < lo) | (values > hi)))
    rej.add(table, df, out, col, f"{col} must be between {lo} and {hi}")
    return values


def check_text(rej: Rejections, table: str, df: pd.DataFrame, col: str,
                optional: bool = False) -> pd.Series:
    """Stripped text without control characters; empty is refused unless ``optional``
    (then it becomes None)."""
    values = df[col].str.strip()
    if not optional:
        rej.add(table, df, values == "", col, f"{col} is empty")
    rej.add(table, df, values.str.contains(rules.CONTROL_CHARS_RE.pattern, regex=True), col,
            f"{col} {rules.CONTROL_CHARS_MESSAGE}")
    return values.where(values != "", None) if optional else values


def check_rating(rej: Rejections, table: str, df: pd.DataFrame,
                  scale: rules.RatingScale) -> pd.Series:
    """Ratings on ``scale``: whole stars as integers written as digits; half stars as
    numbers (``3.5``, ``4`` or ``4.0``) on the 0.5 grid."""
    if scale.whole:
        return check_int(rej, table, df, "rating", lo=int(scale.low), hi=int(scale.high))
    text = df["rating"].str.strip()
    values = pd.to_numeric(text.where(text.str.match(rules.DECIMAL_RE.pattern)),
                           errors="coerce")
    rej.add(table, df, values.isna(), "rating", "rating is not a number")
    rej.add(table, df, values.notna() & ~scale.valid(values.to_numpy()), "rating",
            scale.message())
    return values


def check_datetime(rej: Rejections, table: str, df: pd.DataFrame, col: str, fmt: str,
                    allow_empty: bool = False, instant: bool = False,
                    warn_empty: bool = True) -> pd.Series:
    """Dates in ``fmt``. ``instant``: a moment read as UTC, within the accepted range
    (:data:`recsys.rules.EARLIEST_TIMESTAMP` .. one day from now). ``allow_empty``: an empty
    field is NaT (reported as a warning when ``warn_empty``)."""
    text = df[col].str.strip()
    values = pd.to_datetime(text, format=fmt, errors="coerce")
    empty = text == ""
    if allow_empty and not warn_empty:
        bad = values.isna() & ~empty
    elif allow_empty:
        rej.add(table, df, empty, col, f"{col} is unknown (no date given): kept with the date "
                "unknown", severity="warning")
        bad = values.isna() & ~empty
    else:
        bad = values.isna()
    rej.add(table, df, bad, col, f"{col} is not a date in the format {fmt}")
    if instant:
        earliest = pd.Timestamp(rules.EARLIEST_TIMESTAMP).tz_localize(None)
        latest = pd.Timestamp(rules.latest_timestamp()).tz_localize(None)
        out = values.notna() & ((values < earliest) | (values > latest))
        rej.add(table, df, out, col, rules.timestamp_range_message(col))
    return values


def check_unique_id(rej: Rejections, table: str, df: pd.DataFrame,
                    ids: pd.Series) -> None:
    """Reject every repeat of an id after its first line."""
    dup = ids.notna() & ids.duplicated(keep="first")
    first_line = df["_line"].groupby(ids).transform("min")
    rej.add(table, df, dup, "id",
            lambda bad: "duplicate id " + bad["_raw_id"].astype(str)
            + " (first at line " + first_line[bad.index].astype(str) + ")")


def keep(rej: Rejections, table: str, df: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``df`` with no rejection recorded for ``table``."""
    return df[~df["_line"].isin(rej.lines(table))]
