"""``recsys db init`` and ``recsys db grants``: the schema changes, kept apart from the
commands that only use it.

Creating tables, identity columns and the change-tracking triggers and function is the tables'
owner's job. Run ``recsys db init`` once as the owner (and after an upgrade); ingest, train,
predict, index, cluster and serve then need nothing but table grants (README, "A role with
table grants").
"""

from __future__ import annotations

import argparse
from typing import Any

from recsys.cli.common import command, settings_for


def cmd_db_init(args: argparse.Namespace) -> int:
    from recsys import db

    settings = settings_for(args)
    engine = db.make_engine(settings.database_url)
    try:
        done = db.init_schema(engine)
    finally:
        engine.dispose()
    print(f"Schema of {db.masked(engine.url)} ready:")
    for what, how in done.items():
        print(f"  {what:<16} {how}")
    return 0


def cmd_db_grants(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from recsys.db.roles import grant_statements

    settings = settings_for(args)
    url = make_url(settings.database_url)
    if url.get_backend_name() != "postgresql":
        print("-- SQLite has no roles: whoever can write the file can run every command")
        return 0
    for statement in grant_statements(args.role, url.database or "recsys", args.schema):
        print(statement + ";")
    return 0


def register(sub: Any) -> None:
    group = sub.add_parser("db", help="create or upgrade the database schema (as its owner)",
                           description="Schema changes, for the tables' owner: every other "
                                       "command needs only table grants.")
    actions = group.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    command(actions, "init", "create the missing tables and indexes and install change "
            "tracking (idempotent; as the tables' owner)",
            database=True).set_defaults(func=cmd_db_init)
    grants = command(actions, "grants", "print the GRANT statements that let ROLE run every "
                     "other command (for the owner to run, e.g. through psql)", database=True)
    grants.add_argument("role", help="the role the pipeline and the API connect as")
    grants.add_argument("--schema", default="public", help="the schema holding the tables")
    grants.set_defaults(func=cmd_db_grants)
