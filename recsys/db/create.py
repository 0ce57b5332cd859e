"""Schema creation: what every command does first (:func:`create_schema`, only where the
schema lacks something) and ``recsys db init`` (:func:`init_schema`, the owner's step)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from recsys.db import notify
from recsys.db.bulk import ensure_identities
from recsys.db.engine import check_connection, masked
from recsys.db.schema import Base
from recsys.errors import DatabaseError

#: PostgreSQL's error code for "permission denied" / "must be owner".
INSUFFICIENT_PRIVILEGE = "42501"


def create_schema(engine: Engine) -> None:
    """Create what the schema lacks: tables, indexes, identity columns of older PostgreSQL
    databases, change tracking (:mod:`recsys.db.notify`). A complete schema is only read, so
    a role with table grants alone can ingest, predict and cluster; one that would need a
    change it may not make gets a one-line :class:`DatabaseError` naming ``recsys db init``."""
    try:
        Base.metadata.create_all(engine)
        with engine.begin() as conn:
            ensure_identities(conn)
            if notify.missing(conn):
                notify.install(conn)
    except DBAPIError as exc:
        if getattr(exc.orig, "pgcode", None) == INSUFFICIENT_PRIVILEGE:
            raise DatabaseError(
                f"the schema of {masked(engine.url)} is incomplete and this role may not "
                f"change it ({str(exc.orig).splitlines()[0]}): run `recsys db init` once as "
                "the tables' owner (README, \"A role with table grants\")"
            ) from None
        raise


def init_schema(engine: Engine) -> dict[str, str]:
    """``recsys db init``: create every missing table and index, and (re)install change
    tracking; idempotent. Run it as the tables' owner once, and after an upgrade; every other
    command then needs only table grants. Returns what was done, for the console."""
    from sqlalchemy import inspect

    check_connection(engine)
    with engine.connect() as conn:
        absent = sorted(set(Base.metadata.tables) - set(inspect(conn).get_table_names()))
        lacking = notify.missing(conn)
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        ensure_identities(conn)
        notify.install(conn)
    return {"tables": f"created {', '.join(absent)}" if absent else "all present",
            "change tracking": f"installed (lacked {lacking})" if lacking else "up to date"}
