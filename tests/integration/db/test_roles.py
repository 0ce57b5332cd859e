"""A PostgreSQL role with table grants only runs every stage (issue "Reliability, round 3"
#8): the owner runs ``recsys db init`` once, the role gets ``recsys db grants``' statements,
and ingest (merge and replace), training's read, predict, index, cluster and the API work as
that role; a schema that lacks something says to run ``recsys db init`` in one line."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from recsys import datasets, db
from recsys.db.roles import grant_statements
from recsys.errors import DatabaseError, UsageError

pytestmark = pytest.mark.postgres


@pytest.fixture
def owner_and_role(postgres_url: str) -> Iterator[tuple[Engine, Engine]]:
    """A fresh database initialised by its owner, and an engine for a new role that has
    nothing but the printed grants."""
    suffix = secrets.token_hex(4)
    database, role, password = f"grants_{suffix}", f"app_{suffix}", secrets.token_urlsafe(12)
    admin = db.make_engine(postgres_url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"CREATE DATABASE {database}"))  # names made above, not input
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD :password"),
                     {"password": password})
    admin.dispose()
    url = make_url(postgres_url).set(database=database)
    owner = db.make_engine(url.render_as_string(hide_password=False))
    db.init_schema(owner)
    with owner.begin() as conn:
        for statement in grant_statements(role, database):
            conn.execute(text(statement))
    limited = db.make_engine(url.set(username=role, password=password)
                             .render_as_string(hide_password=False))
    yield owner, limited
    limited.dispose()
    owner.dispose()


def test_a_role_with_table_grants_runs_every_stage(owner_and_role: tuple[Engine, Engine],
                                                   api_data: datasets.Dataset, api_model: Any,
                                                   tmp_path: Path) -> None:
    from support import serve_world

    from recsys.api import create_app

    _, limited = owner_and_role
    with limited.connect() as conn:  # really not the owner: it may not change the schema
        with pytest.raises(Exception, match="must be owner|permission denied"):
            conn.execute(text("ALTER TABLE movies ADD COLUMN spare integer"))
    # ingest --replace, index, predict and cluster, as the role
    world = serve_world(limited, api_data, api_model, tmp_path)
    # a merge ingest that changes a title, as the role
    movies = api_data.movies.copy()
    movies.loc[movies["id"] == 3, "title"] = "Renamed (1999)"
    changed = datasets.Dataset(api_data.persons, api_data.users, api_data.workers, movies,
                               api_data.scores)
    report = db.ingest(changed, limited)
    assert report.changes["movies"].updated == 1
    back = db.read_dataset(limited)  # what `recsys train` reads
    assert back.movies.set_index("id").loc[3, "title"] == "Renamed (1999)"
    assert len(back.scores) == len(api_data.scores)
    app = create_app(**world)
    try:
        client = app.test_client()
        assert client.get("/health").get_json()["status"] == "ok"
        assert client.get("/recommendations?user_id=1&k=5").status_code == 200
        rated = set(api_data.scores.loc[api_data.scores["user_id"] == 500, "movie_id"])
        movie = next(int(m) for m in api_data.movies["id"] if m not in rated)
        posted = client.post("/scores", json={"user_id": 500, "movie_id": movie, "rating": 4})
        assert posted.status_code == 201, posted.get_json()
    finally:
        app.extensions["recsys"].cache.stop()


def test_an_incomplete_schema_names_db_init(owner_and_role: tuple[Engine, Engine],
                                            synthetic: datasets.Dataset) -> None:
    owner, limited = owner_and_role
    with owner.begin() as conn:  # as after an upgrade: the change tracking of an older release
        conn.execute(text("DROP TRIGGER recsys_notify_change ON movie_genres"))
    with pytest.raises(DatabaseError, match=r"recsys db init") as caught:
        db.ingest(synthetic, limited)
    assert "\n" not in str(caught.value)
    assert db.table_counts(owner)["scores"] == 0  # nothing changed
    done = db.init_schema(owner)
    assert "lacked" in done["change tracking"]
    db.ingest(synthetic, limited)
    assert db.table_counts(owner)["scores"] == len(synthetic.scores)


def test_cli_prints_the_grants_and_refuses_odd_names(postgres_url: str) -> None:
    run = subprocess.run([sys.executable, "-m", "recsys.cli", "db", "grants", "recsys_app",
                          "--database-url", postgres_url], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines == [s + ";" for s in grant_statements("recsys_app",
                                                       make_url(postgres_url).database or "")]
    with pytest.raises(UsageError, match="plain identifier"):
        grant_statements("app; DROP TABLE scores")
