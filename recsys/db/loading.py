"""Ingest: the validated CSV tables into the database, merged by default, never destructively
by accident.

- **merge** (the default): every source row is upserted by its key (persons, users, workers and
  movies by id; genres by name; a movie's genre links are the source's; scores by
  (user, movie), keeping the CSV's id when it is free). Rows that exist only in the database,
  such as ratings posted through the API since the last ingest, are kept. Derived tables
  (predictions, clusters) are left alone: ``recsys predict`` and ``recsys cluster`` refresh them.
- **replace** (``--replace``): the source tables become exactly the CSVs, and the derived tables
  that were computed from the old data are cleared.

Either way it is one transaction (all or nothing), and it refuses, with nothing changed, when a
required source table yields no valid row or a table would lose more than half of its rows,
unless ``force`` is given. On PostgreSQL the tables are locked in one fixed order with a lock
timeout, and a lock timeout or deadlock against a running API is retried; the first load into
an empty database takes the fast path (COPY with the foreign keys re-validated in one pass).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    and_,
    exists,
    insert,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.schema import AddConstraint, DropConstraint

from recsys.datasets.tables import Dataset
from recsys.db import info as described
from recsys.db.bulk import bulk_insert, sync_identity
from recsys.db.create import create_schema
from recsys.db.engine import SQLITE_BEGIN, connection_problem, masked
from recsys.db.guards import SOURCE_TABLES, check_scale, check_shrink, check_sources, row_counts
from recsys.db.schema import GENERATED_ID_TABLES, TABLES_IN_ORDER, Base, movie_genres
from recsys.errors import DatabaseError

#: Tables computed from the source tables (cleared by replace, kept by merge).
DERIVED_TABLES = ["predictions", "clusters", "user_clusters"]
#: Key columns of each merged table.
KEYS = {"persons": ["id"], "users": ["id"], "workers": ["id"], "movies": ["id"],
        "scores": ["user_id", "movie_id"]}
LOCK_TIMEOUT = "5s"
ATTEMPTS = 3
#: PostgreSQL error codes worth a retry: deadlock, lock timeout, serialization failure.
RETRY_CODES = {"40P01", "55P03", "40001"}



@dataclass
class TableChange:
    """What ingest did to one table."""

    table: str
    before: int = 0
    source: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0
    deleted: int = 0
    after: int = 0


@dataclass
class IngestReport:
    """The outcome of one ingest: mode, per-table changes, seconds, and the counts after."""

    mode: str
    changes: dict[str, TableChange] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        """Rows per table after the ingest."""
        return {name: change.after for name, change in self.changes.items()}

    def table(self) -> pd.DataFrame:
        """One row per table, for printing."""
        return pd.DataFrame([vars(c) for c in self.changes.values()])


# -- frames --------------------------------------------------------------------------------------


def frames_for(dataset: Dataset) -> dict[str, pd.DataFrame]:
    """Each source table as a frame with exactly the database columns (dates as datetimes:
    :func:`~recsys.db.bulk.bulk_insert` writes them as each dialect wants; genre links carry
    the genre's name; ids are given by the target database)."""
    links = dataset.movies[["id", "genres"]].explode("genres").dropna()
    names = dataset.genre_names()
    return {
        "persons": dataset.persons[["id", "full_name", "birth_year", "gender", "zip_code"]],
        "users": dataset.users[["id", "occupation", "active_since"]],
        "workers": dataset.workers[["id", "position", "category", "working_hours",
                                    "start_date"]],
        "genres": pd.DataFrame({"id": range(1, len(names) + 1), "name": names}),
        "movies": dataset.movies[["id", "title", "release_date", "imdb_url"]],
        "movie_genres": pd.DataFrame({"movie_id": links["id"].astype("int64"),
                                      "genre": links["genres"].astype(str)}),
        "scores": dataset.scores[["id", "user_id", "movie_id", "rating", "rated_at"]],
    }


# -- locking -------------------------------------------------------------------------------------


def _lock(conn: Connection, names: list[str], mode: str) -> None:
    """Lock ``names`` in one statement, in dependency order, waiting at most LOCK_TIMEOUT."""
    if conn.dialect.name != "postgresql":
        return
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    ordered = [t.name for t in TABLES_IN_ORDER if t.name in names]
    # our own table names and a fixed mode, never input
    conn.execute(text(f"LOCK TABLE {', '.join(ordered)} IN {mode} MODE"))


def _retryable(exc: DBAPIError, merging: bool) -> bool:
    if isinstance(exc, IntegrityError):
        return merging  # a concurrent writer stored the same key first: try again
    code = getattr(getattr(exc, "orig", None), "pgcode", None)
    return code in RETRY_CODES or "database is locked" in str(exc)


def _with_retries(engine: Engine, work: Callable[[Connection], IngestReport],
                  merging: bool) -> IngestReport:
    """Run ``work`` in one transaction (SQLite: BEGIN IMMEDIATE), retrying what a concurrent
    session can cause: lock timeouts, deadlocks, and a rating posted at the same moment."""
    last: DBAPIError | None = None
    for attempt in range(ATTEMPTS):
        try:
            with engine.connect() as raw:
                conn = raw.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
                with conn.begin():
                    return work(conn)
        except (OperationalError, IntegrityError) as exc:
            if not _retryable(exc, merging):
                raise
            last = exc
            time.sleep(0.5 * (attempt + 1))
    raise DatabaseError(
        f"ingest into {masked(engine.url)} gave up after {ATTEMPTS} attempts, nothing changed: "
        f"{connection_problem(last) if last else 'lock timeout'} (another session, such as a "
        "running API, kept the tables busy: run it again)")


# -- replace -------------------------------------------------------------------------------------


def _owns(conn: Connection, tables: Sequence[str]) -> bool:
    """Whether this PostgreSQL role owns ``tables`` (or is a superuser): a role with table
    grants alone loads with the foreign keys in place, row by row checked."""
    return bool(conn.execute(text(
        "SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) OR "
        "coalesce(bool_and(pg_has_role(current_user, c.relowner, 'USAGE')), false) "
        "FROM pg_class c WHERE c.relname = ANY(:tables) AND c.relkind = 'r' "
        "AND c.relnamespace = current_schema()::regnamespace"),
        {"tables": list(tables)}).scalar_one())


def _load_empty(conn: Connection, frames: dict[str, pd.DataFrame]) -> None:
    """Load frames into empty tables (COPY with foreign keys re-validated in one pass on
    PostgreSQL: checking them row by row costs more than the COPY itself)."""
    postgres = conn.dialect.name == "postgresql"
    foreign_keys = []
    if postgres and _owns(conn, SOURCE_TABLES):  # only an owner may drop constraints
        foreign_keys = [fk for name in SOURCE_TABLES
                        for fk in Base.metadata.tables[name].foreign_key_constraints]
        for fk in foreign_keys:
            conn.execute(DropConstraint(fk))
    genre_ids = {name: i + 1 for i, name in enumerate(frames["genres"]["name"])}
    links = frames["movie_genres"]
    tables = {**frames, "movie_genres": pd.DataFrame(
        {"movie_id": links["movie_id"], "genre_id": links["genre"].map(genre_ids)})}
    for name in SOURCE_TABLES:
        bulk_insert(conn, name, tables[name])
    for fk in foreign_keys:
        conn.execute(AddConstraint(fk, isolate_from_table=False))
    for name in GENERATED_ID_TABLES:
        sync_identity(conn, name)


def _replace(conn: Connection, frames: dict[str, pd.DataFrame], force: bool) -> IngestReport:
    everything = [t.name for t in TABLES_IN_ORDER]
    _lock(conn, everything, "ACCESS EXCLUSIVE")
    before = row_counts(conn, everything)
    sources = {name: len(frames[name]) for name in SOURCE_TABLES}
    check_shrink(before, sources, force)
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"TRUNCATE {', '.join(everything)}"))  # our own table names
    else:
        for table in reversed(TABLES_IN_ORDER):
            conn.execute(table.delete())
    _load_empty(conn, frames)
    after = row_counts(conn, everything)
    report = IngestReport("replace")
    for name in everything:
        report.changes[name] = TableChange(
            name, before=before[name], source=sources.get(name, 0),
            inserted=after[name], deleted=before[name], after=after[name])
    return report


# -- merge ---------------------------------------------------------------------------------------


def _stage(conn: Connection, name: str, frame: pd.DataFrame) -> Table:
    """A temporary table with the target's column types (integers for a bare id list),
    filled with ``frame``; it vanishes with a rolled-back transaction."""
    target = Base.metadata.tables.get(name)
    columns = [Column(col, target.c[col].type if target is not None else Integer())
               for col in frame.columns]
    stage = Table(f"stage_{name}", MetaData(), *columns, prefixes=["TEMPORARY"])
    stage.create(conn)
    bulk_insert(conn, stage.name, frame)
    return stage


def _same_key(target: Table, stage: Table, keys: list[str]) -> Any:
    return and_(*[target.c[k] == stage.c[k] for k in keys])


def _merge_table(conn: Connection, name: str, frame: pd.DataFrame) -> TableChange:
    """Upsert ``frame`` into ``name`` by its key; returns what changed."""
    target = Base.metadata.tables[name]
    keys = KEYS[name]
    values = [c for c in frame.columns if c not in keys and c != "id"]
    change = TableChange(name, before=row_counts(conn, [name])[name], source=len(frame))
    if frame.empty:
        change.kept = change.after = change.before
        return change
    stage = _stage(conn, name, frame)
    new = not_(exists().where(_same_key(target, stage, keys)))
    columns = list(frame.columns)
    if name == "scores":  # keep the CSV's id when it is free, else the database picks one
        free = not_(exists().where(target.c.id == stage.c.id))
        change.inserted = conn.execute(insert(target).from_select(
            columns, select(*[stage.c[c] for c in columns]).where(new, free))).rowcount
        sync_identity(conn, name)
        rest = [c for c in columns if c != "id"]
        change.inserted += conn.execute(insert(target).from_select(
            rest, select(*[stage.c[c] for c in rest]).where(new))).rowcount
    else:
        change.inserted = conn.execute(insert(target).from_select(
            columns, select(*[stage.c[c] for c in columns]).where(new))).rowcount
    if values:
        differs = or_(*[target.c[v].is_distinct_from(stage.c[v]) for v in values])
        change.updated = conn.execute(
            update(target).values({v: stage.c[v] for v in values})
            .where(_same_key(target, stage, keys), differs)).rowcount
    change.unchanged = change.source - change.inserted - change.updated
    change.kept = change.before - change.updated - change.unchanged
    change.after = change.before + change.inserted
    stage.drop(conn)
    if name in GENERATED_ID_TABLES:
        sync_identity(conn, name)
    return change


def _merge_genres(conn: Connection, frames: dict[str, pd.DataFrame]) -> list[TableChange]:
    """Genres by name (new names get new ids); each source movie's links become the source's."""
    genres = Base.metadata.tables["genres"]
    before = row_counts(conn, ["genres", "movie_genres"])
    known = dict(conn.execute(select(genres.c.name, genres.c.id)).all())
    wanted = list(dict.fromkeys([*frames["genres"]["name"], *frames["movie_genres"]["genre"]]))
    missing = [g for g in wanted if g not in known]
    next_id = max(known.values(), default=0) + 1
    if missing:
        conn.execute(insert(genres), [{"id": next_id + i, "name": g}
                                      for i, g in enumerate(missing)])
        known.update({g: next_id + i for i, g in enumerate(missing)})
    links = frames["movie_genres"]
    wanted_links = pd.DataFrame({"movie_id": links["movie_id"].astype("int64"),
                                 "genre_id": links["genre"].map(known).astype("int64")})
    movies = _stage(conn, "movie_ids", pd.DataFrame({"movie_id": frames["movies"]["id"]}))
    mine = movie_genres.c.movie_id.in_(select(movies.c.movie_id))
    old = {(int(m), int(g)) for m, g in conn.execute(
        select(movie_genres.c.movie_id, movie_genres.c.genre_id).where(mine))}
    new = set(wanted_links.itertuples(index=False, name=None))
    conn.execute(movie_genres.delete().where(mine))
    movies.drop(conn)
    bulk_insert(conn, "movie_genres", wanted_links)
    after = row_counts(conn, ["genres", "movie_genres"])
    return [TableChange("genres", before=before["genres"], source=len(wanted),
                        inserted=len(missing), unchanged=len(wanted) - len(missing),
                        kept=before["genres"] - (len(wanted) - len(missing)),
                        after=after["genres"]),
            TableChange("movie_genres", before=before["movie_genres"],
                        source=len(wanted_links), inserted=len(new - old),
                        unchanged=len(new & old), deleted=len(old - new),
                        kept=after["movie_genres"] - len(wanted_links),
                        after=after["movie_genres"])]


def _merge(conn: Connection, frames: dict[str, pd.DataFrame], force: bool) -> IngestReport:
    _lock(conn, SOURCE_TABLES, "SHARE ROW EXCLUSIVE")
    before = row_counts(conn, [t.name for t in TABLES_IN_ORDER])
    report = IngestReport("merge")
    if not any(before[name] for name in SOURCE_TABLES):  # first load: the fast path
        _load_empty(conn, frames)
        after = row_counts(conn, list(before))
        for name in before:
            report.changes[name] = TableChange(name, source=len(frames.get(name, ())),
                                               inserted=after[name], after=after[name])
        return report
    for name in ("persons", "users", "workers", "movies"):
        report.changes[name] = _merge_table(conn, name, frames[name])
    for change in _merge_genres(conn, frames):
        report.changes[change.table] = change
    report.changes["scores"] = _merge_table(conn, "scores", frames["scores"])
    after = row_counts(conn, list(before))
    check_shrink(before, after, force)
    for name in DERIVED_TABLES:
        report.changes[name] = TableChange(name, before=before[name], kept=after[name],
                                           after=after[name])
    return report


def ingest(dataset: Dataset, engine: Engine, replace: bool = False,
           force: bool = False) -> IngestReport:
    """Load ``dataset`` into the database in one transaction (see the module docstring).

    Args:
        dataset: validated tables (from :func:`recsys.datasets.load`).
        engine: target database.
        replace: make the source tables exactly the dataset (default: merge into them).
        force: skip the guards against empty sources and tables losing over half their rows.

    Raises:
        IngestRefused: a guard tripped; nothing changed.
        DatabaseError: the database is unreachable, or stayed locked through every retry.
    """
    start = time.perf_counter()
    frames = frames_for(dataset)
    check_sources(frames, force)
    create_schema(engine)

    def work(conn: Connection) -> IngestReport:
        described.upgrade(conn, dataset.info)
        if not replace:
            check_scale(conn, dataset)
        report = _replace(conn, frames, force) if replace else _merge(conn, frames, force)
        described.write(conn, dataset.info)
        return report

    report = _with_retries(engine, work, merging=not replace)
    report.seconds = time.perf_counter() - start
    return report
