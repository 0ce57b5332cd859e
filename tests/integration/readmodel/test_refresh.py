"""The API's read model (recsys/readmodel/) under writes, on SQLite and PostgreSQL: loads without a
reload storm, ratings from elsewhere applied incrementally, the compact layout answering as the
complete one, workers starting from the master's copy."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from support import serve_world

from recsys import datasets, db
from recsys.api import create_app
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


def test_ratings_from_elsewhere_are_applied_incrementally(app: Flask, loaded: Engine) -> None:
    cache = app.extensions["recsys"].cache
    cache.stop()
    snapshot = cache.snapshot
    movie = next(iter(snapshot.movies))
    before = snapshot.movies[movie].ratings
    user = next(u for u in sorted(snapshot.users) if movie not in snapshot.rated.get(u, ()))
    with loaded.begin() as conn:
        conn.execute(Score.__table__.insert().values(
            user_id=user, movie_id=movie, rating=5,
            rated_at=pd.Timestamp("1998-05-01").to_pydatetime()))
    assert cache.refresh() is True
    assert cache.snapshot is snapshot  # applied in place, not reloaded
    assert snapshot.movies[movie].ratings == before + 1
    assert movie in snapshot.rated[user]
    assert cache.refresh() is False  # nothing new


def test_changes_made_elsewhere_are_seen_within_the_refresh_interval(
        client: FlaskClient, loaded: Engine) -> None:
    import time

    from recsys.db.schema import Score

    first = client.get("/recommendations?user_id=8&k=3").get_json()["recommendations"][0]
    with loaded.begin() as conn:  # another process rates the movie
        next_id = conn.execute(select(func.max(Score.id))).scalar_one() + 1
        conn.execute(Score.__table__.insert().values(
            id=next_id, user_id=8, movie_id=first["movie_id"], rating=2,
            rated_at=pd.Timestamp("1998-05-01").to_pydatetime()))
    deadline = time.monotonic() + 10  # refresh interval is 2 s
    while time.monotonic() < deadline:
        recs = client.get("/recommendations?user_id=8&k=3").get_json()["recommendations"]
        if first["movie_id"] not in [r["movie_id"] for r in recs]:
            break
        time.sleep(0.2)
    else:
        pytest.fail("a rating made elsewhere was never seen by the API")
    assert len(recs) == 3


def test_compact_read_model_answers_as_the_complete_one(loaded: Engine,
                                                        api_data: datasets.Dataset,
                                                        api_model: Any,
                                                        tmp_path: Path) -> None:


    world = serve_world(loaded, api_data, api_model, tmp_path)
    apps = {}
    # Python objects per user; flat arrays; rows read from the database per request
    for name, limit in (("complete", 10**9), ("arrays", 10**9), ("compact", 0)):
        settings = dataclasses.replace(world["settings"], api_memory_ratings=limit)
        apps[name] = create_app(**{**world, "settings": settings})
    arrays = apps["arrays"].extensions["recsys"].cache
    arrays.object_ratings, arrays.snapshot = 0, None
    arrays.refresh()
    try:
        clients = {name: app.test_client() for name, app in apps.items()}
        compact_snapshot = apps["compact"].extensions["recsys"].cache.snapshot
        assert compact_snapshot.per_request and not compact_snapshot.rated
        assert arrays.snapshot.rows is not None and not arrays.snapshot.rated
        assert arrays.snapshot.rows.nbytes > 0 and not arrays.snapshot.per_request
        assert not apps["complete"].extensions["recsys"].cache.snapshot.compact
        paths = [f"/recommendations?user_id={u}&k=5" for u in api_data.users["id"].head(8)]
        paths += [f"/movies/{m}" for m in api_data.movies["id"].head(8)]
        paths += ["/recommendations?user_id=500&k=5", "/recommendations?user_id=99999&k=5"]
        for path in paths:
            answers = {n: c.get(path) for n, c in clients.items()}
            for name in ("arrays", "compact"):
                assert answers[name].status_code == answers["complete"].status_code, path
                assert answers[name].get_json() == answers["complete"].get_json(), path
        # a new rating reaches all three: the movie's statistics, the user's list and the
        # movies the reasons come from
        user = int(api_data.users["id"].iloc[0])
        top = clients["compact"].get(f"/recommendations?user_id={user}&k=5").get_json()
        first = top["recommendations"][0]["movie_id"]
        posted = clients["compact"].post("/scores", json={"user_id": user, "movie_id": first,
                                                          "rating": 5})
        assert posted.status_code == 201, posted.get_json()
        after = {}
        for name, app in apps.items():
            app.extensions["recsys"].cache.refresh()
            after[name] = clients[name].get(f"/recommendations?user_id={user}&k=5").get_json()
            assert first not in [r["movie_id"] for r in after[name]["recommendations"]], name
        assert after["arrays"] == after["compact"] == after["complete"]
        movie = {n: c.get(f"/movies/{first}").get_json() for n, c in clients.items()}
        assert movie["arrays"] == movie["compact"] == movie["complete"]
        with loaded.connect() as conn:
            from recsys.db.schema import Score

            count = conn.execute(select(func.count()).where(Score.movie_id == first)).scalar()
        assert movie["compact"]["ratings"] == count
    finally:
        for app in apps.values():
            app.extensions["recsys"].cache.stop()


def test_workers_start_from_the_masters_read_model_and_catch_up(loaded: Engine,
                                                                 api_data: datasets.Dataset,
                                                                 api_model: Any,
                                                                 tmp_path: Path) -> None:
    """gunicorn's master reads the read model once; a worker starting from it serves it as is
    when nothing changed, applies ratings stored since, and reloads after any other change."""

    from recsys.db.schema import Score
    from recsys.readmodel import preload_snapshot

    world = serve_world(loaded, api_data, api_model, tmp_path)
    url = world["settings"].database_url
    assert preload_snapshot("sqlite:///" + str(tmp_path / "nothing" / "here.db"), None) is None

    def started_from(snapshot: Any) -> Any:
        app = create_app(**world, snapshot=snapshot)
        app.extensions["recsys"].cache.stop()
        return app

    unchanged = preload_snapshot(url, None)
    assert unchanged is not None and unchanged.fingerprint[0] == len(api_data.scores)
    app = started_from(unchanged)
    assert app.extensions["recsys"].cache.snapshot is unchanged
    # a rating stored between the master's read and the worker's start is applied
    user = int(api_data.users["id"].iloc[0])
    stale = preload_snapshot(url, None)
    top = app.test_client().get(f"/recommendations?user_id={user}&k=5").get_json()
    movie = top["recommendations"][0]["movie_id"]
    posted = app.test_client().post("/scores", json={"user_id": user, "movie_id": movie,
                                                     "rating": 5})
    assert posted.status_code == 201, posted.get_json()
    caught_up = started_from(stale)
    assert caught_up.extensions["recsys"].cache.snapshot is stale
    assert movie in stale.rated[user] and stale.fingerprint[0] == len(api_data.scores) + 1
    after = caught_up.test_client().get(f"/recommendations?user_id={user}&k=5").get_json()
    assert movie not in [r["movie_id"] for r in after["recommendations"]]
    # a deletion is not an append: the worker reads everything again
    older = preload_snapshot(url, None)
    with loaded.begin() as conn:
        conn.execute(Score.__table__.delete().where(Score.id == posted.get_json()["id"]))
    reloaded = started_from(older).extensions["recsys"].cache.snapshot
    assert reloaded is not older and movie not in reloaded.rated.get(user, set())
