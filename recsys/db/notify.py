"""Change notifications on PostgreSQL: the tables the API mirrors say when they change.

The API's read model used to find changes by counting rows every few seconds in every
worker. Counting is cheap at 100,000 ratings but not at millions: at 1M ratings each check
cost PostgreSQL about 0.1 s of CPU, and two workers checking every 2 s took p99 at 32
connections from 28 ms to 69 ms (bench/RESULTS.md, "Scale"). So the schema gives
PostgreSQL a statement-level trigger on each mirrored table that calls ``pg_notify`` (one
notification per changing transaction and table, delivered at commit, whoever writes: the
pipeline, the API, pgAdmin), and the read model counts only after a notification. SQLite
has no notifications: there the read model keeps counting (cheap at the sizes SQLite
serves).
"""

from __future__ import annotations

import logging
import select
from typing import Any

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

CHANNEL = "recsys_changes"
#: The tables whose changes the API's read model must see (its fingerprint's tables).
WATCHED = ("scores", "movies", "users", "predictions")
FUNCTION = "recsys_notify_change"
TRIGGER = "recsys_notify_change"

# Constant statements: the names above, never input.
_CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
END
$$"""
_CREATE_TRIGGER = ("CREATE OR REPLACE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE OR "
                   "TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
_COUNT_TRIGGERS = text("SELECT count(DISTINCT c.relname) FROM pg_trigger t JOIN pg_class c "
                       "ON c.oid = t.tgrelid WHERE t.tgname = :trigger AND c.relname IN "
                       "('scores', 'movies', 'users', 'predictions')")


def install(conn: Connection) -> None:
    """Create (or replace) the notifying function and triggers (PostgreSQL only)."""
    if conn.dialect.name != "postgresql":
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
                log.info("no change triggers in this database (run `recsys ingest` to add "
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
