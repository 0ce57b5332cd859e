"""Engine and sessions, schema creation, and a fast, idempotent, transactional bulk load.

The same functions serve SQLite (the embedded default, a file under ``var/``) and PostgreSQL
(``postgresql+psycopg2://`` URLs). Ingest replaces the source tables in one transaction: run it
twice and the counts are the same; make it fail half-way and the previous data are intact.
On PostgreSQL rows go in through ``COPY ... FROM STDIN``; on SQLite through ``executemany``.
"""

from __future__ import annotations

import io
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
from sqlalchemy import Connection, Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.schema import AddConstraint, DropConstraint
from sqlalchemy.orm import Session, sessionmaker

from recsys.datasets import GENRES, Dataset
from recsys.schema import (
    TABLES_IN_ORDER,
    Base,
    Genre,
    Movie,
    Person,
    Prediction,
    Score,
    User,
    Worker,
    movie_genres,
)

#: Source tables that ingest replaces, and derived tables it must clear first because they
#: reference them (predictions depend on the data they were computed from).
SOURCE_TABLES = ["persons", "users", "workers", "genres", "movies", "movie_genres", "scores"]


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` (default: ``RECSYS_DATABASE_URL`` or the SQLite file).

    SQLite gets foreign keys enforced, WAL journaling (readers are not blocked by a writer and
    see the last committed state) and its parent folder created.

    Args:
        url: SQLAlchemy URL.
        **kwargs: passed to :func:`sqlalchemy.create_engine`.

    Returns:
        The engine.
    """
    if url is None:
        from recsys.config import get_settings

        url = get_settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = kwargs.setdefault("connect_args", {})
        connect_args.setdefault("timeout", 30)
        # the pool hands each connection to one thread at a time (API worker threads)
        connect_args.setdefault("check_same_thread", False)
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def create_schema(engine: Engine) -> None:
    """Create every table and index that does not exist yet."""
    Base.metadata.create_all(engine)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine`` (objects stay usable after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success, rolls back on error, and is always closed."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# --------------------------------------------------------------------------------------------
# Bulk load
# --------------------------------------------------------------------------------------------


#: How SQLAlchemy's SQLite dialect stores DATETIME and DATE values (we write the same text, so
#: rows loaded in bulk read back exactly like rows written through the ORM).
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
SQLITE_DATE = "%Y-%m-%d"


def _frames_for(dataset: Dataset) -> dict[str, pd.DataFrame]:
    """Each source table as a frame with exactly the database columns, dates as ISO text."""
    def dates(series: pd.Series, fmt: str) -> pd.Series:
        out = series.dt.strftime(fmt).astype(object)
        return out.where(series.notna(), None)

    genre_id = {name: i + 1 for i, name in enumerate(GENRES)}
    links = dataset.movies[["id", "genres"]].explode("genres").dropna()
    return {
        "persons": dataset.persons[["id", "full_name", "birth_year", "gender", "zip_code"]],
        "users": dataset.users.assign(active_since=dates(dataset.users["active_since"],
                                                         SQLITE_DATETIME)),
        "workers": dataset.workers.assign(start_date=dates(dataset.workers["start_date"],
                                                           SQLITE_DATE)),
        "genres": pd.DataFrame({"id": range(1, len(GENRES) + 1), "name": list(GENRES)}),
        "movies": dataset.movies[["id", "title", "release_date", "imdb_url"]].assign(
            release_date=dates(dataset.movies["release_date"], SQLITE_DATE)),
        "movie_genres": pd.DataFrame({"movie_id": links["id"].astype("int64"),
                                      "genre_id": links["genres"].map(genre_id)}),
        "scores": dataset.scores[["id", "user_id", "movie_id", "rating", "rated_at"]].assign(
            rated_at=dates(dataset.scores["rated_at"], SQLITE_DATETIME)),
    }


def _copy_postgres(conn: Connection, table: str, frame: pd.DataFrame) -> None:
    """Stream a frame into a PostgreSQL table with COPY (CSV; NULL is an unquoted empty)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, header=False, index=False, na_rep="")
    buffer.seek(0)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        column_list = ", ".join(frame.columns)
        # table and column names come from our own schema, never from input
        cursor.copy_expert(f"COPY {table} ({column_list}) FROM STDIN WITH (FORMAT csv)", buffer)
    finally:
        cursor.close()


def _insert_sqlite(conn: Connection, table: str, frame: pd.DataFrame) -> None:
    """executemany on the sqlite3 driver, values bound as parameters (qmark style)."""
    columns = ", ".join(frame.columns)
    marks = ", ".join("?" for _ in frame.columns)
    values = frame.astype(object).where(frame.notna(), None)
    rows = list(values.itertuples(index=False, name=None))
    # table and column names come from our own schema, never from input
    conn.exec_driver_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def bulk_insert(conn: Connection, table: str, frame: pd.DataFrame) -> None:
    """Insert a frame whose columns are ``table``'s, by the fastest path of the dialect
    (COPY on PostgreSQL, executemany on SQLite), inside the caller's transaction."""
    if frame.empty:
        return
    if conn.dialect.name == "postgresql":
        _copy_postgres(conn, table, frame)
    else:
        _insert_sqlite(conn, table, frame)


def ingest(dataset: Dataset, engine: Engine) -> dict[str, int]:
    """Replace the source tables with ``dataset`` in one transaction.

    Derived rows that reference the data (predictions) are cleared in the same transaction:
    they were computed from the previous data and are recomputed by ``recsys predict``.

    Args:
        dataset: validated tables (from :func:`recsys.datasets.load`).
        engine: target database.

    Returns:
        Row counts per table after the load.
    """
    create_schema(engine)
    frames = _frames_for(dataset)
    postgres = engine.dialect.name == "postgresql"
    if not postgres and engine.dialect.name != "sqlite":
        raise ValueError(f"unsupported database {engine.dialect.name!r}: use SQLite or PostgreSQL")
    with engine.begin() as conn:
        if postgres:
            names = ", ".join(t.name for t in TABLES_IN_ORDER)
            conn.execute(text(f"TRUNCATE {names}"))  # our own table names
            # Checking foreign keys row by row during COPY costs more than the COPY itself;
            # re-adding them afterwards validates every row in one pass, in this transaction.
            foreign_keys = [fk for name in SOURCE_TABLES
                            for fk in Base.metadata.tables[name].foreign_key_constraints]
            for fk in foreign_keys:
                conn.execute(DropConstraint(fk))
        else:
            for table in reversed(TABLES_IN_ORDER):
                conn.execute(table.delete())
        for name in SOURCE_TABLES:
            frame = frames[name]
            if frame.empty:
                continue
            bulk_insert(conn, name, frame)
        if postgres:
            for fk in foreign_keys:
                conn.execute(AddConstraint(fk, isolate_from_table=False))
    return table_counts(engine)


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


def timed_ingest(dataset: Dataset, engine: Engine) -> tuple[dict[str, int], float]:
    """:func:`ingest`, also returning the seconds it took."""
    start = time.perf_counter()
    counts = ingest(dataset, engine)
    return counts, time.perf_counter() - start


def read_dataset(engine: Engine) -> Dataset:
    """Read the source tables back into a :class:`Dataset` (same columns and dtypes as
    :func:`recsys.datasets.load`), e.g. to train on what the database holds now."""
    from recsys.datasets import _finalise

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
    links = frame(select(movie_genres.c.movie_id, Genre.name)
                  .join(Genre, Genre.id == movie_genres.c.genre_id)
                  .order_by(movie_genres.c.movie_id, Genre.id))
    by_movie = links.groupby("movie_id")["name"].agg(list)
    movies["genres"] = [by_movie.get(i, []) for i in movies["id"]]
    movies["release_date"] = pd.to_datetime(movies["release_date"])
    scores = frame(select(Score.id, Score.user_id, Score.movie_id, Score.rating, Score.rated_at))
    if persons.empty or movies.empty:
        raise ValueError(f"the database at {engine.url.render_as_string(hide_password=True)} "
                         "holds no data: run `recsys ingest` first")
    return _finalise(persons, users, workers, movies, scores)
