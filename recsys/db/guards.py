"""What an ingest refuses before it changes anything: a source table with no valid row, a
table losing more than half of its rows, ratings on another scale than the database's."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, func, select

from recsys.datasets.tables import FILES, Dataset
from recsys.db import info as described
from recsys.db.schema import Base
from recsys.errors import IngestRefused

#: Source tables in dependency order (parents first).
SOURCE_TABLES = ["persons", "users", "workers", "genres", "movies", "movie_genres", "scores"]
#: Source tables that must not come out empty (a dataset without workers is fine).
REQUIRED = ("persons", "users", "movies", "scores")
#: A table may not shrink below this share of its rows without ``force``.
KEEP_AT_LEAST = 0.5


def row_counts(conn: Connection, names: list[str]) -> dict[str, int]:
    """How many rows each of the tables ``names`` holds."""
    tables = Base.metadata.tables
    return {name: int(conn.execute(select(func.count()).select_from(tables[name])).scalar_one())
            for name in names}


def check_sources(frames: dict[str, pd.DataFrame], force: bool) -> None:
    """Refuse a source table with no valid row (unless ``force``)."""
    if force:
        return
    empty = [name for name in REQUIRED if frames[name].empty]
    if empty:
        shown = ", ".join(f"{FILES.get(name, name)} ({name})" for name in empty)
        raise IngestRefused(f"no valid rows in {shown}: refusing to ingest, nothing changed "
                            "(see the load report; pass --force to load it anyway)")


def check_shrink(before: dict[str, int], after: dict[str, int], force: bool) -> None:
    """Refuse when a source table would lose more than half of its rows (unless ``force``)."""
    if force:
        return
    shrinking = [f"{name} from {before[name]} to {after[name]} rows"
                 for name in SOURCE_TABLES
                 if before.get(name, 0) and after.get(name, 0) < KEEP_AT_LEAST * before[name]]
    if shrinking:
        raise IngestRefused("ingest would shrink " + ", ".join(shrinking)
                            + ": refusing, nothing changed (pass --force to do it anyway)")


def check_scale(conn: Connection, dataset: Dataset) -> None:
    """Refuse to merge ratings on one scale into a database holding ratings on another."""
    held = described.read(conn)
    incoming = dataset.info.rating_scale
    if held.rating_scale != incoming and conn.execute(
            select(func.count()).select_from(Base.metadata.tables["scores"])).scalar_one():
        raise IngestRefused(
            f"the database holds {held.name} ratings on the {held.rating_scale.name} scale, "
            f"the data ({dataset.info.name}) is on the {incoming.name} scale: merging would mix "
            "them; refusing, nothing changed (use --replace, or another database)")
