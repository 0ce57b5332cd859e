"""Change tracking: the tables the API mirrors say when they change, and count their updates.

Two mechanisms, both kept by the database itself whoever writes (the pipeline, the API,
pgAdmin, a person with SQL):

- **notifications** (PostgreSQL): a statement-level trigger on each watched table calls
  ``pg_notify`` (one notification per changing transaction and table, delivered at commit),
  and the read model counts rows only after one. Counting is cheap at 100,000 ratings but not
  at millions: at 1M ratings each check cost PostgreSQL about 0.1 s of CPU, and two workers
  checking every 2 s took p99 at 32 connections from 28 ms to 69 ms (bench/RESULTS.md,
  "Scale"). SQLite has no notifications: there the read model keeps counting (cheap at the
  sizes SQLite serves).
- **a change counter** (both): an update or a deletion of a watched table's rows adds one to
  its row of ``data_changes`` (a statement-level trigger on PostgreSQL, row-level on SQLite,
  which has no other kind). Counts and largest ids, which the read model compares, say when
  rows were added; only this says that a title, a genre or a rating value changed. Inserts
  do not count (the API's own ratings are inserts, applied in place without a reload).

Creating triggers and functions is a schema change, for the tables' owner:
:func:`install` runs from ``recsys db init`` (and from an ingest into a database that lacks
them); :func:`missing` lets every other command check without needing that privilege.
"""

from __future__ import annotations

import logging
import select
from typing import Any

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

CHANNEL = "recsys_changes"
#: The tables whose changes the API's read model must see (its fingerprint's tables, and the
#: genre links it shows).
WATCHED = ("scores", "movies", "users", "predictions", "movie_genres")
#: The tables whose updates and deletions are counted in ``data_changes`` (predictions are
#: replaced by model version, which the read model compares already).
COUNTED = ("scores", "movies", "users", "movie_genres")
FUNCTION = "recsys_notify_change"
TRIGGER = "recsys_notify_change"
#: Changes whenever the function's body does, so an older one is found and replaced.
REVISION = "recsys change tracking, revision 2"

# Constant statements: the names above, never input.
_CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- {REVISION}
    IF TG_OP <> 'INSERT' AND TG_TABLE_NAME IN ({", ".join(f"'{t}'" for t in COUNTED)}) THEN
        INSERT INTO data_changes (table_name, version) VALUES (TG_TABLE_NAME, 1)
        ON CONFLICT (table_name) DO UPDATE SET version = data_changes.version + 1;
    END IF;
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
END
$$"""
_CREATE_TRIGGER = ("CREATE OR REPLACE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE OR "
                   "TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
_COUNT_TRIGGERS = text("SELECT count(DISTINCT c.relname) FROM pg_trigger t JOIN pg_class c "
                       "ON c.oid = t.tgrelid WHERE t.tgname = :trigger AND c.relname IN "
                       f"({', '.join(repr(t) for t in WATCHED)})")
_FUNCTION_SOURCE = text("SELECT prosrc FROM pg_proc WHERE proname = :function")
_SQLITE_TRIGGER = ("CREATE TRIGGER IF NOT EXISTS recsys_count_{table}_{event} AFTER {event} ON "
                   "{table} BEGIN INSERT INTO data_changes (table_name, version) VALUES "
                   "('{table}', 1) ON CONFLICT (table_name) DO UPDATE SET version = "
                   "version + 1; END")
_SQLITE_TRIGGERS = text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name "
                        "LIKE 'recsys_count_%'")


def missing(conn: Connection) -> str | None:
    """What change tracking lacks in this database (None: complete), read from the catalogue
    with no privilege beyond connecting."""
    if conn.dialect.name == "postgresql":
        installed = conn.execute(_COUNT_TRIGGERS, {"trigger": TRIGGER}).scalar_one()
        if installed < len(WATCHED):
            return f"change triggers on {installed} of {len(WATCHED)} tables"
        source = conn.execute(_FUNCTION_SOURCE, {"function": FUNCTION}).scalar_one_or_none()
        if source is None or REVISION not in source:
            return f"an older {FUNCTION}() function"
        return None
    if conn.execute(_SQLITE_TRIGGERS).scalar_one() < 2 * len(COUNTED):
        return "change-counting triggers"
    return None


def install(conn: Connection) -> None:
    """Create (or replace) the change-tracking function and triggers."""
    if conn.dialect.name != "postgresql":
        for table in COUNTED:
            for event in ("UPDATE", "DELETE"):
                conn.execute(text(_SQLITE_TRIGGER.format(table=table, event=event)))
        return
    conn.execute(text(_CREATE_FUNCTION))
    for table in WATCHED:
        conn.execute(text(_CREATE_TRIGGER.format(trigger=TRIGGER, table=table,
                                                 function=FUNCTION)))


class ChangeListener:
    """A connection that LISTENs on :data:`CHANNEL`; :meth:`changed` says whether a watched
    table may have changed since the last call.

    Use :meth:`open`, which returns None where notifications cannot be relied on (SQLite, a
    database whose triggers are missing, a connection that fails): the caller then counts on
    every check, as before.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._raw: Any = None

    @classmethod
    def open(cls, engine: Engine) -> ChangeListener | None:
        if engine.dialect.name != "postgresql":
            return None
        listener = cls(engine)
        try:
            with engine.connect() as conn:
                installed = conn.execute(_COUNT_TRIGGERS, {"trigger": TRIGGER}).scalar_one()
            if installed < len(WATCHED):
                log.info("no change triggers in this database (run `recsys db init` to add "
                         "them): the read model counts rows on every check")
                return None
            listener._listen()
        except Exception as exc:  # noqa: BLE001 - counting on every check still works
            log.info("change notifications unavailable (%s): counting rows instead", exc)
            return None
        return listener

    def _listen(self) -> None:
        raw = self.engine.raw_connection()  # kept out of the pool until closed
        driver: Any = raw.driver_connection
        driver.rollback()
        driver.autocommit = True
        with driver.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")  # a constant name
        self._raw = raw

    def changed(self) -> bool:
        """True when a notification arrived since the last call, or when the connection
        had to be (re)opened (changes may have been missed meanwhile)."""
        try:
            if self._raw is None:
                self._listen()
                return True
            driver = self._raw.driver_connection
            readable, _, _ = select.select([driver], [], [], 0)
            if readable:
                driver.poll()
            got = bool(driver.notifies)
            driver.notifies.clear()
            return got
        except Exception as exc:  # noqa: BLE001 - reconnect on the next call
            log.warning("change notifications lost (%s): reconnecting", exc)
            self.close()
            return True

    def close(self) -> None:
        if self._raw is not None:
            try:
                self._raw.invalidate()  # never back into the pool in LISTEN/autocommit mode
            except Exception:  # noqa: BLE001
                pass
            self._raw = None
