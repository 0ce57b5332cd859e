"""What a PostgreSQL role needs to run recsys without owning the schema.

The tables' owner runs ``recsys db init`` (tables, indexes, change tracking); the role the
pipeline and the API connect as then needs only these grants, printed by
``recsys db grants ROLE`` for the owner to run (README, "A role with table grants"):

- SELECT, INSERT, UPDATE, DELETE on every table (ingest merges, predictions, clusters, the
  API's ratings, and the ``data_changes`` counter the triggers keep);
- TRUNCATE on every table (``recsys ingest --replace``);
- USAGE, SELECT and UPDATE on the id sequences (ids generated for new rows, and moved past
  the ids a load wrote: ``setval``);
- CONNECT and TEMPORARY on the database (a merge stages the CSV rows in temporary tables),
  which PostgreSQL grants to every role by default.
"""

from __future__ import annotations

import re

from recsys.errors import UsageError

#: A role name printed into SQL: a plain identifier only (never quoted input).
ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def grant_statements(role: str, database: str = "recsys", schema: str = "public") -> list[str]:
    """The GRANT statements that let ``role`` run every command but ``recsys db init``.

    Raises:
        UsageError: a name that is not a plain identifier.
    """
    for what, name in (("role", role), ("database", database), ("schema", schema)):
        if not ROLE_NAME.fullmatch(name):
            raise UsageError(f"the {what} name must be a plain identifier (letters, digits, _; "
                             f"not starting with a digit), got {name!r}")
    return [
        f"GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {role}",
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {schema} "
        f"TO {role}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
    ]
