"""The API's read model (recsys/readmodel/refresh.py) under writes, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from recsys import datasets
from recsys.db.schema import Score
from recsys.readmodel import queries, refresh


def _rate_unrated(engine: Engine, data: datasets.Dataset, nth: int) -> None:
    """Store (behind the read model's back) a rating of a movie some user has not rated."""
    rated = set(zip(data.scores["user_id"], data.scores["movie_id"]))
    pairs = [(int(u), int(m)) for u in data.users["id"] for m in data.movies["id"]
             if (u, m) not in rated]
    user, movie = pairs[nth]
    with engine.begin() as conn:
        conn.execute(Score.__table__.insert().values(
            user_id=user, movie_id=movie, rating=4,
            rated_at=pd.Timestamp("1998-05-01").to_pydatetime()))


@pytest.mark.parametrize("layout", ["objects", "arrays"])
def test_a_rating_committed_during_a_load_is_counted_so_no_reload_follows(
        loaded: Engine, synthetic: datasets.Dataset, monkeypatch: pytest.MonkeyPatch,
        layout: str) -> None:
    """The reload storm: a rating committed while the read model loads must be either in its
    rows and its count, or in neither; then the next ratings are appended, never a reload."""
    original = queries.genres_by_movie
    calls = {"n": 0}

    def write_meanwhile(run: Any, *args: Any) -> Any:
        if calls["n"] == 0:  # between the fingerprint and the rows of the first load
            _rate_unrated(loaded, synthetic, 0)
        calls["n"] += 1
        return original(run, *args)

    monkeypatch.setattr(queries, "genres_by_movie", write_meanwhile)
    cache = refresh.ServingCache(loaded, refresh_seconds=0)
    cache.object_ratings = 0 if layout == "arrays" else queries.OBJECT_RATINGS
    cache.start()
    monkeypatch.setattr(queries, "genres_by_movie", original)
    loaded_once = cache.snapshot
    assert loaded_once is not None and calls["n"] == 1
    assert loaded_once.compact == (layout == "arrays")
    _rate_unrated(loaded, synthetic, 1)
    assert cache.refresh() is True
    assert cache.snapshot is loaded_once, "the read model was reloaded instead of appended to"
    with loaded.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(Score)).scalar_one()
    assert loaded_once.fingerprint[0] == stored == len(synthetic.scores) + 2
    assert cache.refresh() is False  # and it stays in step


def test_updates_made_elsewhere_reach_the_read_model(loaded: Engine,
                                                     synthetic: datasets.Dataset) -> None:
    """Issue "Reliability, round 3" #4: a merge ingest that changes a title, genres and a
    rating value changes no count and no largest id; the read model must still see it."""
    from recsys import db

    cache = refresh.ServingCache(loaded, refresh_seconds=0)
    cache.start()
    assert cache.refresh() is False
    movie = int(synthetic.scores["movie_id"].iloc[0])
    movies = synthetic.movies.copy()
    row = movies.index[movies["id"] == movie][0]
    movies.at[row, "title"] = "Renamed (1990)"
    movies.at[row, "genres"] = ["Documentary"]
    scores = synthetic.scores.copy()
    first = scores.index[scores["movie_id"] == movie][0]
    scores.at[first, "rating"] = 1 if scores.at[first, "rating"] != 1 else 5
    db.ingest(datasets.Dataset(synthetic.persons, synthetic.users, synthetic.workers, movies,
                               scores), loaded)
    assert cache.refresh() is True
    snap = cache.snapshot
    assert snap is not None
    info = snap.movies[movie]
    assert (info.title, info.genres) == ("Renamed (1990)", ["Documentary"])
    assert info.rating_sum == scores.loc[scores["movie_id"] == movie, "rating"].sum()
    assert cache.refresh() is False  # one reload, then in step again


def test_a_rating_stored_through_one_worker_is_served_by_every_worker_at_once(
        loaded: Engine, api_data: datasets.Dataset, api_model: Any, tmp_path: Any) -> None:
    """Issue "Reliability, round 3" #5: two workers (two apps on one database and one var
    folder, their background refresh off); after worker A's 201, worker B's next answer
    already leaves the movie out and counts the rating."""
    from conftest import serve_world

    from recsys.api import create_app

    world = serve_world(loaded, api_data, api_model, tmp_path)
    world["settings"] = world["settings"].replace(api_refresh_seconds=0)
    first, second = create_app(**world), create_app(**world)
    a, b = first.test_client(), second.test_client()
    user = 8
    top = b.get(f"/recommendations?user_id={user}&k=3").get_json()["recommendations"][0]
    movie = top["movie_id"]
    count = b.get(f"/movies/{movie}").get_json()["ratings"]
    assert a.post("/scores", json={"user_id": user, "movie_id": movie,
                                   "rating": 2}).status_code == 201
    again = b.get(f"/recommendations?user_id={user}&k=3").get_json()["recommendations"]
    assert movie not in [r["movie_id"] for r in again]
    assert b.get(f"/movies/{movie}").get_json()["ratings"] == count + 1
    # worker B's next refresh appends, never reloads, and counts the rating once
    cache = second.extensions["recsys"].cache
    held = cache.snapshot
    assert cache.refresh() is True and cache.snapshot is held
    assert b.get(f"/movies/{movie}").get_json()["ratings"] == count + 1
