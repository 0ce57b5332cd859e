"""Whole tables read back as columns: tens of millions of rows without one Python object each.

PostgreSQL copies the rows out (``COPY (SELECT ...) TO STDOUT``) into a temporary file that
Arrow parses; SQLite is read through the driver's cursor in chunks of plain tuples (what
SQLAlchemy row objects would cost: about 23 s per million rows). Batch prediction, the
model's training data and the API's compact read model all read their tables this way.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Table, select

from recsys.db.schema import Base

#: Arrow's types for the pandas dtypes the readers ask for.
_ARROW = {"int64": "int64", "int32": "int32", "float64": "float64", "float32": "float32",
          "datetime64[ns]": "timestamp[us]", "object": "string"}


def read_table(bind: Engine | Connection, name: str, dtypes: dict[str, str],
               chunk: int = 500_000) -> pd.DataFrame:
    """The given columns (names and pandas dtypes) of every row of the schema's table
    ``name``, in no particular order. Only the schema's own tables and columns are accepted
    (a ``KeyError`` otherwise): nothing from input reaches the statement.

    ``bind``: an engine (a connection of its own), or a connection whose transaction the read
    joins, so that it sees the same snapshot as the statements run on it before."""
    table = Base.metadata.tables[name]
    columns = [table.c[c].name for c in dtypes]
    if bind.dialect.name == "postgresql":
        frame = _copy_out(bind, table, dtypes)
    else:
        frame = _fetch_chunks(bind, table, columns, chunk)
    return frame.astype(dtypes)


@contextmanager
def _dbapi(bind: Engine | Connection) -> Iterator[Any]:
    """The driver's connection: a new one from the engine (closed afterwards), or the one
    under ``bind``'s open transaction (left open)."""
    if isinstance(bind, Connection):
        yield bind.connection
        return
    raw = bind.raw_connection()
    try:
        yield raw
    finally:
        raw.close()


def _copy_out(bind: Engine | Connection, table: Table,
              dtypes: dict[str, str]) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    quote = bind.dialect.identifier_preparer.quote
    statement = (f"COPY (SELECT {', '.join(quote(c) for c in dtypes)} FROM "
                 f"{quote(table.name)}) TO STDOUT WITH (FORMAT csv)")
    # strings wanted as categories stay dictionary-encoded: millions of repeated model
    # versions become small integer codes, never one Python string each
    types = {c: pa.dictionary(pa.int32(), pa.string()) if str(t) == "category"
             else pa.type_for_alias(_ARROW[str(t)]) for c, t in dtypes.items()}
    with tempfile.TemporaryFile() as buffer:
        with _dbapi(bind) as raw:
            cursor = raw.cursor()
            try:
                cursor.copy_expert(statement, buffer)
            finally:
                cursor.close()
        if buffer.tell() == 0:
            return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in dtypes.items()})
        buffer.seek(0)
        parsed = pacsv.read_csv(buffer, read_options=pacsv.ReadOptions(
            column_names=list(dtypes)), convert_options=pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=False))
    return parsed.to_pandas()


def _fetch_chunks(bind: Engine | Connection, table: Table, columns: list[str],
                  chunk: int) -> pd.DataFrame:
    compiled = select(*(table.c[c] for c in columns)).compile(dialect=bind.dialect)
    parts = [pd.DataFrame({c: [] for c in columns})]
    with _dbapi(bind) as raw:
        cursor = raw.cursor()
        try:
            cursor.execute(str(compiled))
            while rows := cursor.fetchmany(chunk):
                parts.append(pd.DataFrame.from_records(rows, columns=columns))
        finally:
            cursor.close()
    return pd.concat(parts, ignore_index=True)


def group_bounds(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For keys sorted ascending: the distinct keys and where each one's run starts (one
    more offset at the end), so rows of key ``keys[i]`` are ``bounds[i]:bounds[i + 1]``."""
    keys = np.asarray(keys)
    if len(keys) == 0:
        return keys.copy(), np.zeros(1, np.int64)
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[starts], np.append(starts, len(keys)).astype(np.int64)

