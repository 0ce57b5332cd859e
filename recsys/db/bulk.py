"""Moving many rows at once: COPY on PostgreSQL, executemany on SQLite, and keeping the
identity sequences ahead of ids that were written explicitly."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Date, DateTime, text

from recsys.db.schema import GENERATED_ID_TABLES, Base

#: Rows per COPY or executemany round trip (bounded memory whatever the table's size).
CHUNK = 250_000
#: How SQLAlchemy's SQLite dialect stores DATETIME and DATE values (rows loaded in bulk must
#: read back exactly like rows written through the ORM).
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
SQLITE_DATE = "%Y-%m-%d"


def _column_types(table: str, frame: pd.DataFrame) -> dict[str, Any]:
    """The schema's type of each column (staging tables share their target's)."""
    target = Base.metadata.tables.get(table.removeprefix("stage_"))
    if target is None:
        return {}
    return {c: target.c[c].type for c in frame.columns if c in target.c}


def _copy_postgres(conn: Connection, table: str, frame: pd.DataFrame) -> None:
    """Stream a frame into a PostgreSQL table with COPY, in chunks written as CSV by Arrow
    (every value quoted, so NULL is the only unquoted empty field)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    # table and column names come from our own schema, never from input
    statement = f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv)"
    try:
        for start in range(0, len(frame), CHUNK):
            chunk = _arrow_ready(frame.iloc[start:start + CHUNK])
            buffer = io.BytesIO()
            pacsv.write_csv(pa.Table.from_pandas(chunk, preserve_index=False), buffer, options)
            buffer.seek(0)
            cursor.copy_expert(statement, buffer)
    finally:
        cursor.close()


def _arrow_ready(chunk: pd.DataFrame) -> pd.DataFrame:
    """Object columns Arrow cannot type on its own (Python dates, mixed) as text."""
    out = chunk.copy()
    for col in out.columns:
        if out[col].dtype == object:
            values = out[col]
            out[col] = values.map(lambda v: None if v is None or v != v else str(v))
        elif pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].astype("datetime64[us]")
    return out


def _sqlite_values(chunk: pd.DataFrame, types: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows as tuples, dates as the text SQLAlchemy's SQLite dialect writes."""
    out = chunk.copy()
    for col, kind in types.items():
        if isinstance(kind, DateTime | Date):
            values = pd.to_datetime(out[col])
            text = values.dt.strftime(SQLITE_DATE if isinstance(kind, Date) and not isinstance(
                kind, DateTime) else SQLITE_DATETIME)
            out[col] = text.astype(object).where(values.notna(), None)
    values = out.astype(object).where(out.notna(), None)
    return list(values.itertuples(index=False, name=None))


def _insert_sqlite(conn: Connection, table: str, frame: pd.DataFrame) -> None:
    """executemany on the sqlite3 driver in chunks, values bound as parameters."""
    columns = ", ".join(frame.columns)
    marks = ", ".join("?" for _ in frame.columns)
    types = _column_types(table, frame)
    for start in range(0, len(frame), CHUNK):
        rows = _sqlite_values(frame.iloc[start:start + CHUNK], types)
        # table and column names come from our own schema, never from input
        conn.exec_driver_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def bulk_insert(conn: Connection, table: str, frame: pd.DataFrame) -> None:
    """Insert a frame whose columns are ``table``'s, by the fastest path of the dialect
    (COPY on PostgreSQL, executemany on SQLite), inside the caller's transaction. Dates may
    be datetimes, dates or ISO text."""
    if frame.empty:
        return
    if conn.dialect.name == "postgresql":
        _copy_postgres(conn, table, frame)
    else:
        _insert_sqlite(conn, table, frame)


def sync_identity(conn: Connection, table: str) -> None:
    """Move ``table``'s id sequence past its largest id (PostgreSQL; SQLite's rowid needs
    nothing). Called after rows were written with explicit ids, so the next generated id is
    free. The sequence only moves forward: a concurrent writer's ids are never reused."""
    if conn.dialect.name != "postgresql" or table not in GENERATED_ID_TABLES:
        return
    # the table name is one of our own constants (checked above), never input
    conn.execute(text(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
        f"GREATEST((SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), "
        f"nextval(pg_get_serial_sequence('{table}', 'id'))), false)"))


def ensure_identities(conn: Connection) -> None:
    """Give the id columns of databases created before ids were generated an identity
    (PostgreSQL), and move every sequence past the stored ids."""
    if conn.dialect.name != "postgresql":
        return
    for table in GENERATED_ID_TABLES:
        has_identity = conn.execute(text(
            "SELECT is_identity = 'YES' OR column_default IS NOT NULL "
            "FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = :table "
            "AND column_name = 'id'"), {"table": table}).scalar_one_or_none()
        if has_identity is False:
            conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN id "
                              "ADD GENERATED BY DEFAULT AS IDENTITY"))
        if has_identity is not None:
            sync_identity(conn, table)
