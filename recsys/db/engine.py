"""Engines and sessions for SQLite (the embedded default) and PostgreSQL (the full stack).

SQLite gets foreign keys enforced, WAL journaling (readers never wait for the writer and see
the last committed state) and explicit transactions: pysqlite's own ``BEGIN`` handling is
switched off and SQLAlchemy's ``begin`` emits it, so a transaction that will write can ask for
``BEGIN IMMEDIATE`` (execution option ``sqlite_begin="IMMEDIATE"``, see :func:`write_scope`)
and take the write lock up front, waiting its turn instead of failing on a stale snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from recsys.errors import DatabaseError

#: Execution option naming how a SQLite transaction begins (DEFERRED, IMMEDIATE, EXCLUSIVE).
SQLITE_BEGIN = "sqlite_begin"


def masked(url: str | URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(str(url) if isinstance(url, str) else url).render_as_string(
            hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as given, minus nothing
        return "<unparsable database URL>"


def _sqlite_engine(url: str, kwargs: dict[str, Any]) -> Engine:
    parsed = make_url(url)
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
        dbapi_connection.isolation_level = None  # SQLAlchemy's begin event emits BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        mode = str(conn.get_execution_options().get(SQLITE_BEGIN, "")).upper()
        conn.exec_driver_sql(f"BEGIN {mode}" if mode in ("IMMEDIATE", "EXCLUSIVE")
                             else "BEGIN")

    return engine


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` (the settings' ``database_url``, resolved by the caller:
    the command line, the app factory or the notebook's setup).

    Args:
        url: SQLAlchemy URL.
        **kwargs: passed to :func:`sqlalchemy.create_engine`.

    Raises:
        DatabaseError: the URL cannot be parsed or names an unsupported database.
    """
    try:
        backend = make_url(url).get_backend_name()
    except Exception as exc:  # noqa: BLE001 - sqlalchemy raises ArgumentError and others
        raise DatabaseError(f"cannot parse the database URL {masked(url)!r}: {exc}") from None
    if backend == "sqlite":
        return _sqlite_engine(url, kwargs)
    if backend != "postgresql":
        raise DatabaseError(f"unsupported database {backend!r} in {masked(url)}: use SQLite "
                            "or PostgreSQL")
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", 10)
    return create_engine(url, **kwargs)


def connection_problem(exc: BaseException) -> str:
    """The first line of a driver's connection error (e.g. ``role "x" does not exist``)."""
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return lines[0] if lines else type(original).__name__


def check_connection(engine: Engine) -> None:
    """Connect once; a failure becomes :class:`DatabaseError` naming the URL (password masked)
    and the cause, in one line."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (OperationalError, InterfaceError) as exc:
        raise DatabaseError(f"cannot connect to {masked(engine.url)}: "
                            f"{connection_problem(exc)}") from None
    except DBAPIError as exc:
        raise DatabaseError(f"the database at {masked(engine.url)} refused the connection: "
                            f"{connection_problem(exc)}") from None


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


def begin_write(session: Session) -> None:
    """Start the session's transaction as a writer: on SQLite ``BEGIN IMMEDIATE`` (the write
    lock is taken now, so concurrent writers queue instead of failing later); elsewhere a
    normal transaction. Call before the session runs its first statement."""
    session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})
