"""The ingested dataset's description in the database (``dataset_info``), and bringing the
schema of databases created by earlier versions up to what other datasets need.

Earlier versions stored whole-star ratings as ``smallint`` with a 1..5 check and required
every person's name and demographics. On PostgreSQL :func:`upgrade` alters those columns in
place; SQLite cannot alter a column or a check, so an old SQLite file that cannot hold the
dataset gets a one-line error naming what to do (the file is a cache of the CSVs).
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, delete, insert, select, text

from recsys.datasets.info import COURSE, DatasetInfo
from recsys.db.engine import masked
from recsys.db.schema import RATING_CEILING, RATING_FLOOR, DatasetInfoRow
from recsys.errors import DatabaseError

#: Columns earlier versions declared NOT NULL that datasets without names or demographics
#: leave empty.
NULLABLE_NOW = {"persons": ("full_name", "birth_year", "gender", "zip_code"),
                "users": ("occupation",)}


def read(conn: Connection) -> DatasetInfo:
    """The description of the dataset the database holds (the course data when none was
    recorded: databases ingested before descriptions existed)."""
    row = conn.execute(select(DatasetInfoRow.description).where(DatasetInfoRow.id == 1)
                       ).scalar_one_or_none()
    return DatasetInfo.from_dict(json.loads(row)) if row else COURSE


def write(conn: Connection, info: DatasetInfo) -> None:
    """Record ``info`` as the description of the database's dataset."""
    conn.execute(delete(DatasetInfoRow))
    conn.execute(insert(DatasetInfoRow).values(
        id=1, name=info.name, rating_scale=info.rating_scale.name,
        description=json.dumps(info.as_dict())))


def upgrade(conn: Connection, info: DatasetInfo) -> None:
    """Make an older schema able to hold ``info``'s dataset (see the module docstring)."""
    if conn.dialect.name == "postgresql":
        _upgrade_postgres(conn)
    else:
        _check_sqlite(conn, info)


def _upgrade_postgres(conn: Connection) -> None:
    kind = conn.execute(text(
        "SELECT data_type FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = 'scores' AND column_name = 'rating'")
    ).scalar_one_or_none()
    if kind == "smallint":  # table, column and constraint names are our own constants
        conn.execute(text("ALTER TABLE scores DROP CONSTRAINT IF EXISTS ck_scores_rating"))
        conn.execute(text("ALTER TABLE scores ALTER COLUMN rating TYPE double precision"))
        conn.execute(text(f"ALTER TABLE scores ADD CONSTRAINT ck_scores_rating CHECK "
                          f"(rating BETWEEN {RATING_FLOOR} AND {RATING_CEILING})"))
    # only the columns still NOT NULL: an ALTER takes an exclusive lock on its table, which
    # would make every ingest beside a busy API a deadlock candidate
    required = {(str(table), str(column)) for table, column in conn.execute(text(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND is_nullable = 'NO'"))}
    for table, columns in NULLABLE_NOW.items():
        for column in columns:
            if (table, column) in required:
                conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL"))


def _check_sqlite(conn: Connection, info: DatasetInfo) -> None:
    scores_sql = conn.execute(text(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'scores'")
    ).scalar_one_or_none() or ""
    old_scale = "BETWEEN 1 AND 5" in scores_sql
    required = {row[1] for row in conn.execute(text("PRAGMA table_info(persons)")) if row[3]}
    old_people = bool(required & set(NULLABLE_NOW["persons"]))
    needs = []
    if old_scale and not info.rating_scale.whole:
        needs.append("half-star ratings")
    if old_people and not (info.names and info.demographics):
        needs.append("persons without names or demographics")
    if needs:
        raise DatabaseError(
            f"the SQLite database {masked(conn.engine.url)} was created by an earlier version "
            f"and cannot hold {' or '.join(needs)} ({info.name}): delete the file (it only "
            "caches the CSVs) or point RECSYS_DATABASE_URL at a new one, then ingest again")
