"""The relational store: engines and sessions, schema creation, ingest, and reading back.

The same functions serve SQLite (the embedded default, a file under ``var/``) and PostgreSQL
(``postgresql+psycopg2://`` URLs):

- :mod:`recsys.db.engine`: engines (SQLite pragmas and explicit transactions), sessions, a
  one-line :class:`~recsys.errors.DatabaseError` for connection failures;
- :mod:`recsys.db.bulk`: COPY / executemany, identity sequences;
- :mod:`recsys.db.loading`: ``ingest`` (merge by default, ``replace`` on request, guarded);
- :mod:`recsys.db.create`: schema creation (``create_schema``, ``init_schema``);
- this module: counts, integrity checks and reading the tables back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

from recsys.datasets.tables import Dataset
from recsys.db import info as described
from recsys.db.bulk import bulk_insert, sync_identity
from recsys.db.create import create_schema, init_schema
from recsys.db.engine import (
    begin_write,
    check_connection,
    make_engine,
    masked,
    session_factory,
    session_scope,
)
from recsys.db.export import read_table
from recsys.db.loading import SOURCE_TABLES, IngestReport, TableChange, ingest
from recsys.db.queries import genres_by_movie
from recsys.db.schema import (
    TABLES_IN_ORDER,
    Genre,
    Movie,
    Person,
    Prediction,
    Score,
    User,
    Worker,
    movie_genres,
)
from recsys.errors import DatabaseError

__all__ = ["SOURCE_TABLES", "IngestReport", "TableChange", "begin_write", "bulk_insert",
           "check_connection", "create_schema", "dangling_references", "ingest", "init_schema",
           "make_engine", "masked", "movie_ids", "read_dataset", "read_scores", "require_data",
           "session_factory", "session_scope", "sync_identity", "table_counts",
           "timed_ingest"]


def table_counts(engine: Engine) -> dict[str, int]:
    """Row count of every table."""
    with engine.connect() as conn:
        return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in TABLES_IN_ORDER}


def dangling_references(engine: Engine) -> dict[str, int]:
    """Rows whose reference points nowhere (should all be zero; SQLite could hold some if
    foreign keys were ever off)."""
    checks = {
        "users without person": select(func.count()).select_from(User).outerjoin(
            Person, Person.id == User.id).where(Person.id.is_(None)),
        "workers without person": select(func.count()).select_from(Worker).outerjoin(
            Person, Person.id == Worker.id).where(Person.id.is_(None)),
        "scores without user": select(func.count()).select_from(Score).outerjoin(
            User, User.id == Score.user_id).where(User.id.is_(None)),
        "scores without movie": select(func.count()).select_from(Score).outerjoin(
            Movie, Movie.id == Score.movie_id).where(Movie.id.is_(None)),
        "genre links without movie": select(func.count()).select_from(movie_genres).outerjoin(
            Movie, Movie.id == movie_genres.c.movie_id).where(Movie.id.is_(None)),
        "genre links without genre": select(func.count()).select_from(movie_genres).outerjoin(
            Genre, Genre.id == movie_genres.c.genre_id).where(Genre.id.is_(None)),
        "predictions without movie": select(func.count()).select_from(Prediction).outerjoin(
            Movie, Movie.id == Prediction.movie_id).where(Movie.id.is_(None)),
    }
    with engine.connect() as conn:
        return {name: int(conn.execute(q).scalar_one()) for name, q in checks.items()}


def movie_ids(engine: Engine) -> list[int]:
    """Every movie id in the database (what a model must have been trained on)."""
    with engine.connect() as conn:
        return [int(m) for m in conn.execute(select(Movie.id)).scalars()]


def require_data(engine: Engine) -> None:
    """Raise :class:`DatabaseError` (one line, what to run) unless the database answers and
    has been ingested into."""
    from sqlalchemy import inspect

    check_connection(engine)
    try:
        ready = inspect(engine).has_table("scores") and inspect(engine).has_table("movies")
    except DBAPIError as exc:
        raise DatabaseError(f"cannot read the schema of {masked(engine.url)}: {exc.orig}"
                            ) from None
    if not ready:
        raise DatabaseError(f"the database at {masked(engine.url)} has no tables yet: run "
                            "`recsys ingest` first")


def timed_ingest(dataset: Dataset, engine: Engine, replace: bool = False,
                 force: bool = False) -> tuple[dict[str, int], float]:
    """:func:`ingest`, returning the counts after it and the seconds it took."""
    report = ingest(dataset, engine, replace=replace, force=force)
    return report.counts, report.seconds


def read_dataset(engine: Engine) -> Dataset:
    """Read the source tables back into a :class:`Dataset` (same columns and dtypes as
    :func:`recsys.datasets.load`), e.g. to train on what the database holds now."""
    from recsys.datasets.tables import finalise

    require_data(engine)

    def frame(stmt: Any) -> pd.DataFrame:
        with engine.connect() as conn:
            result = conn.execute(stmt)
            return pd.DataFrame(result.all(), columns=list(result.keys()))

    persons = frame(select(Person.id, Person.full_name, Person.birth_year, Person.gender,
                           Person.zip_code))
    users = frame(select(User.id, User.occupation, User.active_since))
    workers = frame(select(Worker.id, Worker.position, Worker.category, Worker.working_hours,
                           Worker.start_date))
    movies = frame(select(Movie.id, Movie.title, Movie.release_date, Movie.imdb_url))
    with engine.connect() as conn:
        by_movie = genres_by_movie(conn)
    movies["genres"] = [by_movie.get(int(i), []) for i in movies["id"]]
    movies["release_date"] = pd.to_datetime(movies["release_date"])
    scores = read_scores(engine)
    if persons.empty or movies.empty:
        raise DatabaseError(f"the database at {masked(engine.url)} holds no data: run "
                            "`recsys ingest` first")
    with engine.connect() as conn:
        info = described.read(conn)
    return finalise(persons, users, workers, movies, scores, info)


SCORE_DTYPES = {"id": "int64", "user_id": "int64", "movie_id": "int64", "rating": "float64",
                "rated_at": "datetime64[ns]"}


def read_scores(engine: Engine) -> pd.DataFrame:
    """Every rating (id, user_id, movie_id, rating, rated_at), tens of millions included:
    COPY read by Arrow on PostgreSQL, the driver's cursor in chunks on SQLite; never one
    Python object per row (:func:`recsys.db.export.read_table`)."""
    return read_table(engine, Score.__tablename__, SCORE_DTYPES)


def rated_pairs(engine: Engine, where: Any = None, chunk: int = 500_000) -> pd.DataFrame:
    """(user_id, movie_id) of every rating matching ``where`` (a SQL condition on
    :class:`Score`): what batch prediction leaves out. Read through the driver's own cursor
    (a server-side one on PostgreSQL) in chunks of plain tuples: 25 million pairs without one
    SQLAlchemy row object each (those cost 23 s per million)."""
    stmt = select(Score.user_id, Score.movie_id)
    if where is not None:
        stmt = stmt.where(where)
    compiled = stmt.compile(dialect=engine.dialect)  # bound parameters, never formatted in
    params = compiled.params
    if engine.dialect.paramstyle in ("qmark", "numeric", "format"):
        params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    parts = [np.empty((0, 2), dtype=np.int64)]
    raw = engine.raw_connection()
    try:
        cursor = (raw.cursor(name="recsys_rated_pairs")
                  if engine.dialect.name == "postgresql" else raw.cursor())
        cursor.execute(str(compiled), params)
        while rows := cursor.fetchmany(chunk):
            parts.append(np.array(rows, dtype=np.int64).reshape(-1, 2))
        cursor.close()
    finally:
        raw.close()
    pairs = np.concatenate(parts)
    return pd.DataFrame({"user_id": pairs[:, 0], "movie_id": pairs[:, 1]})


