"""Ingest into SQLite and a real PostgreSQL 15 (recsys/db/loading.py, guards.py): keys and
constraints, merge and replace, round trips, guards that refuse to empty or halve a table, and
no deadlock beside a busy API."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from support import cli_env, file_lines, free_pairs, run_cli, serve_world, write_csvs

from recsys import datasets, db
from recsys.api import create_app
from recsys.db.schema import Movie, Score
from recsys.errors import IngestRefused
from recsys.models import Recommender

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


def test_a_header_only_file_never_empties_the_database(
        loaded: Engine, tmp_path: Path, synthetic: datasets.Dataset) -> None:
    folder = write_csvs(tmp_path, synthetic)
    persons = folder / "personas.csv"
    persons.write_bytes(file_lines(persons)[0] + b"\n")
    before = db.table_counts(loaded)
    url = loaded.url.render_as_string(hide_password=False)
    for flags in ((), ("--replace",)):
        done = run_cli("ingest", *flags, env=cli_env(tmp_path, folder, url))
        assert done.returncode == 2, done.stdout + done.stderr
        assert "personas.csv" in done.stderr and "nothing changed" in done.stderr
        assert db.table_counts(loaded) == before


def test_ingest_keeps_ratings_posted_since(client: FlaskClient, loaded: Engine,
                                           api_data: datasets.Dataset) -> None:
    pairs = free_pairs(api_data, 5)
    for user, movie in pairs:
        assert client.post("/scores", json={"user_id": user, "movie_id": movie,
                                            "rating": 4}).status_code == 201
    edited = datasets.Dataset(**api_data.tables())
    edited.scores = api_data.scores.assign(rating=api_data.scores["rating"].where(
        api_data.scores.index != 0, 6 - api_data.scores["rating"].iloc[0]))
    report = db.ingest(edited, loaded)
    scores = report.changes["scores"]
    assert (scores.inserted, scores.updated, scores.kept) == (0, 1, 5)
    assert scores.after == len(api_data.scores) + 5
    with loaded.connect() as conn:
        found = conn.execute(select(func.count()).select_from(Score).where(
            Score.rating == 4, Score.user_id.in_([u for u, _ in pairs]),
            Score.movie_id.in_([m for _, m in pairs]))).scalar_one()
    assert found >= 5


def test_replace_is_explicit_and_refuses_to_halve_a_table(loaded: Engine,
                                                          synthetic: datasets.Dataset) -> None:
    smaller = datasets.Dataset(**synthetic.tables())
    smaller.scores = synthetic.scores.iloc[: len(synthetic.scores) // 3]
    before = db.table_counts(loaded)
    with pytest.raises(IngestRefused, match="scores from"):
        db.ingest(smaller, loaded, replace=True)
    assert db.table_counts(loaded) == before
    report = db.ingest(smaller, loaded, replace=True, force=True)
    assert report.counts["scores"] == len(smaller.scores)
    assert db.ingest(synthetic, loaded).changes["scores"].inserted == (
        len(synthetic.scores) - len(smaller.scores))


@pytest.mark.postgres
def test_ingest_beside_a_busy_api_never_deadlocks(postgres_url: str, tmp_path: Path,
                                                  api_data: datasets.Dataset,
                                                  api_model: Recommender) -> None:
    engine = db.make_engine(postgres_url)
    from recsys.db.schema import Base

    Base.metadata.drop_all(engine)
    world = serve_world(engine, api_data, api_model, tmp_path)
    app = create_app(**world)
    cache = app.extensions["recsys"].cache
    cache.refresh_seconds = 0.05
    stop = threading.Event()
    failures: list[str] = []

    def hammer() -> None:
        client = app.test_client()
        while not stop.is_set():
            for url in ("/recommendations?user_id=4&k=5", "/movies/3", "/scores/4",
                        "/users/4"):
                status = client.get(url).status_code
                if status >= 500 and status != 503:
                    failures.append(f"{url}: {status}")
            cache.refresh()

    readers = [threading.Thread(target=hammer) for _ in range(3)]
    for t in readers:
        t.start()
    try:
        for i in range(6):
            report = db.ingest(api_data, engine, replace=bool(i % 2), force=True)
            assert report.counts["scores"] == len(api_data.scores)
    finally:
        stop.set()
        for t in readers:
            t.join()
        cache.stop()
        engine.dispose()
    assert not failures
