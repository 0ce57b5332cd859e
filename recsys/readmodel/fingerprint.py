"""What the API's read model compares to know whether the database changed, read in one
snapshot.

The fingerprint is a few cheap queries: counts and largest ids of the mirrored tables, the
newest model version of the stored predictions, and the ``data_changes`` counter that
triggers keep (:mod:`recsys.db.notify`) for updates and deletions. :func:`consistent` gives a
connection whose statements all see one snapshot, so the fingerprint and the rows read after
it agree while others write; on PostgreSQL the fingerprint first share-locks every table the
read model reads, in the order an ingest locks them (no deadlock with a replacing ingest).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, func, inspect, select, text

from recsys.db.schema import TABLES_IN_ORDER, DataChange, Movie, Prediction, Score, User

#: The tables the read model reads, in the order of ``TABLES_IN_ORDER`` (an ingest's lock order).
READ_TABLES = tuple(t.name for t in TABLES_IN_ORDER
                    if t.name in {"users", "genres", "movies", "movie_genres", "scores",
                                  "predictions"})


def fingerprint(engine_or_conn: Engine | Connection) -> tuple[Any, ...]:
    """Counts and largest ids of the tables the read model mirrors (a few cheap queries):
    scores (count, max id), movies, users, predictions (count, newest model version), and
    how many updates and deletions the database counted (``data_changes``, kept by triggers:
    a new title or rating value changes no count)."""
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.connect() as conn:
            return fingerprint(conn)
    conn = engine_or_conn
    if conn.dialect.name == "postgresql":
        # every table the read model reads, share-locked at once in the order an ingest
        # locks them: a reader holding scores while it waits for movies, and an ingest
        # holding movies while it waits for scores, was a deadlock
        conn.execute(text(f"LOCK TABLE {', '.join(READ_TABLES)} IN ACCESS SHARE MODE"))
    scores = conn.execute(select(func.count(), func.max(Score.id))).one()
    movies = conn.execute(select(func.count(), func.max(Movie.id))).one()
    users = conn.execute(select(func.count(), func.max(User.id))).one()
    predictions = conn.execute(select(func.count(), func.max(Prediction.model_version))).one()
    changes = (conn.execute(select(func.coalesce(func.sum(DataChange.version), 0))).scalar_one()
               if inspect(conn).has_table(DataChange.__tablename__) else None)
    return tuple(scores) + tuple(movies) + tuple(users) + tuple(predictions) + (changes,)


def consistent(engine: Engine) -> Connection:
    """A connection whose statements all see one snapshot (SQLite: one read transaction in
    WAL mode; PostgreSQL: REPEATABLE READ), so a fingerprint and the rows read after it
    agree even while others write."""
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    return conn


def only_ratings_appended(old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    """True when the fingerprints differ only by more scores with larger ids."""
    return (len(old) == len(new) and old[2:] == new[2:] and new[0] > old[0]
            and (new[1] or 0) > (old[1] or 0))
