"""Relational store on SQLite and a real PostgreSQL 15: schema, idempotent and transactional
ingest, the real data's counts, and the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError

from recsys import datasets, db
from recsys.db.notify import ChangeListener
from recsys.db.schema import Movie, Score

REAL_COUNTS = {"persons": 943, "users": 943, "workers": 15, "genres": 19, "movies": 1682,
               "movie_genres": 2893, "scores": 100000, "predictions": 0,
               "clusters": 0, "user_clusters": 0}


def test_schema_has_keys_constraints_and_indexes(engine: Engine) -> None:
    insp = inspect(engine)
    assert insp.get_pk_constraint("scores")["constrained_columns"] == ["id"]
    assert {tuple(fk["constrained_columns"]) for fk in insp.get_foreign_keys("scores")} == {
        ("user_id",), ("movie_id",)}
    assert {fk["referred_table"] for fk in insp.get_foreign_keys("users")} == {"persons"}
    uniques = [u["column_names"] for u in insp.get_unique_constraints("scores")]
    assert ["user_id", "movie_id"] in uniques
    prediction_indexes = [i["column_names"] for i in insp.get_indexes("predictions")]
    assert ["user_id", "rank"] in prediction_indexes
    assert sorted(insp.get_pk_constraint("movie_genres")["constrained_columns"]) == [
        "genre_id", "movie_id"]


def test_ingest_twice_gives_the_same_counts(engine: Engine,
                                            synthetic: datasets.Dataset) -> None:
    first = db.ingest(synthetic, engine).counts
    second = db.ingest(synthetic, engine).counts
    assert first == second
    assert first["scores"] == len(synthetic.scores)
    assert first["genres"] == 19
    assert all(v == 0 for v in db.dangling_references(engine).values())


def test_ingest_round_trips_values(loaded: Engine, synthetic: datasets.Dataset) -> None:
    with loaded.connect() as conn:
        scores = pd.DataFrame(conn.execute(select(Score.id, Score.user_id, Score.movie_id,
                                                  Score.rating, Score.rated_at)
                                           .order_by(Score.id)).all())
        movie = conn.execute(select(Movie).where(Movie.id == 1)).one()
    expected = synthetic.scores
    assert scores["rating"].tolist() == expected["rating"].tolist()
    assert pd.to_datetime(scores["rated_at"]).tolist() == expected["rated_at"].tolist()
    assert movie.title == synthetic.movies.iloc[0]["title"]


def test_failed_ingest_leaves_the_previous_data_intact(loaded: Engine,
                                                       synthetic: datasets.Dataset) -> None:
    before = db.table_counts(loaded)
    broken = datasets.Dataset(**synthetic.tables())
    broken.movies = synthetic.movies.iloc[5:].reset_index(drop=True)  # scores now dangle
    broken.persons = pd.concat([synthetic.persons, synthetic.persons.tail(1).assign(id=999)],
                               ignore_index=True)
    with pytest.raises(IntegrityError):
        db.ingest(broken, loaded, replace=True)
    assert db.table_counts(loaded) == before
    with loaded.connect() as conn:
        assert conn.execute(select(Movie.title).where(Movie.id == 1)).scalar_one() == \
            synthetic.movies.iloc[0]["title"]


def test_database_refuses_bad_rows_directly(loaded: Engine) -> None:
    with pytest.raises(IntegrityError):
        with loaded.begin() as conn:
            conn.execute(text("INSERT INTO scores (id, user_id, movie_id, rating, rated_at) "
                              "VALUES (:i, 1, 1, 9, '1998-01-01 00:00:00')"), {"i": 10**6})
    with pytest.raises(IntegrityError):
        with loaded.begin() as conn:
            conn.execute(text("INSERT INTO scores (id, user_id, movie_id, rating, rated_at) "
                              "VALUES (:i, 1, 424242, 3, '1998-01-01 00:00:00')"),
                         {"i": 10**6})


@pytest.mark.realdata
def test_real_data_ingest(engine: Engine, real_load: datasets.LoadResult) -> None:
    assert db.ingest(real_load.dataset, engine).counts == REAL_COUNTS
    assert db.ingest(real_load.dataset, engine).counts == REAL_COUNTS
    assert all(v == 0 for v in db.dangling_references(engine).values())
    with engine.connect() as conn:
        unknown = conn.execute(select(Movie.release_date).where(Movie.id == 267)).one()
        assert unknown.release_date is None
        n = conn.execute(select(Score.id).where(Score.movie_id == 267)).all()
        assert len(n) == 9


def test_cli_ingest_on_sqlite(tmp_path: Path, synthetic: datasets.Dataset) -> None:
    data_dir = tmp_path / "data"
    datasets.save(synthetic, data_dir)
    env = {"RECSYS_DATA_DIR": str(data_dir), "RECSYS_VAR_DIR": str(tmp_path / "var"),
           "PATH": "/usr/bin:/bin"}
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "recsys.cli", "ingest"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert re.search(rf"^\s*scores\s.*\s{len(synthetic.scores)}$", done.stdout, re.M)
        assert "Dangling references: none" in done.stdout
    assert (tmp_path / "var" / "recsys.db").is_file()
    assert (tmp_path / "var" / "reports" / "load_report.csv").is_file()


def test_cli_reports_missing_data_without_traceback(tmp_path: Path) -> None:
    env = {"RECSYS_DATA_DIR": str(tmp_path / "nothing"), "RECSYS_VAR_DIR": str(tmp_path),
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "recsys.cli", "ingest"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "personas.csv is missing" in done.stderr
    assert "Traceback" not in done.stderr


def test_postgres_tells_listeners_about_every_change(loaded: Engine) -> None:
    """PostgreSQL notifies the API's read model of a committed change to a table it mirrors
    (whoever writes, whatever the statement); nothing is heard while nothing changes or
    before the commit. SQLite has no notifications: the read model counts rows instead."""
    listener = ChangeListener.open(loaded)
    if loaded.dialect.name != "postgresql":
        assert listener is None
        return
    assert listener is not None
    try:
        assert not listener.changed()
        with loaded.connect() as conn:
            conn.execute(text("UPDATE scores SET rating = 3 WHERE id = "
                              "(SELECT min(id) FROM scores)"))
            assert not listener.changed()  # not committed yet
            conn.commit()
        assert _heard(listener)
        assert not listener.changed()
        with loaded.begin() as conn:
            conn.execute(text("DELETE FROM predictions"))
        assert _heard(listener)
        with loaded.begin() as conn:  # a table the read model does not mirror
            conn.execute(text("UPDATE persons SET full_name = 'x' WHERE id = 1"))
        assert not _heard(listener, seconds=0.5)
    finally:
        listener.close()


def _heard(listener: ChangeListener, seconds: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if listener.changed():
            return True
        time.sleep(0.05)
    return False
