"""The API's endpoints on SQLite and on a real PostgreSQL 15 (recsys/api/views.py): what each
answers, ratings stored once and in UTC, concurrent posts."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from support import error_body, free_pairs

from recsys import datasets, db
from recsys.api.server import BackgroundServer
from recsys.db.schema import Score

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _post(url: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_ping_touches_nothing(client: FlaskClient) -> None:
    assert client.get("/ping").get_json() == {"status": "ok"}


def test_movie_and_movie_search(client: FlaskClient, api_data: datasets.Dataset) -> None:
    body = client.get("/movies/3").get_json()
    expected = api_data.movies.set_index("id").loc[3]
    assert body["title"] == expected["title"] and body["genres"] == expected["genres"]
    assert body["ratings"] == int((api_data.scores["movie_id"] == 3).sum())
    page = client.get("/movies?genre=Action&page=2&per_page=5").get_json()
    with_action = api_data.movies[api_data.movies["genres"].map(lambda g: "Action" in g)]
    assert page["total"] == len(with_action)
    assert [m["id"] for m in page["movies"]] == with_action["id"].iloc[5:10].tolist()
    titled = client.get("/movies?title=movie%201%20(").get_json()
    assert [m["id"] for m in titled["movies"]] == [1]
    tricky = client.get("/movies", query_string={"title": "'); DROP TABLE movies;--"})
    assert tricky.status_code == 200 and tricky.get_json()["total"] == 0


def test_scores_and_users(client: FlaskClient, api_data: datasets.Dataset) -> None:
    body = client.get("/scores/2").get_json()
    mine = api_data.scores[api_data.scores["user_id"] == 2]
    assert body["count"] == len(mine)
    assert {s["movie_id"] for s in body["scores"]} == set(mine["movie_id"])
    assert all("rated_at" in s and "title" in s for s in body["scores"])
    user = client.get("/users/2").get_json()
    assert user["ratings"] == len(mine) and user["cluster"]["id"] in {0, 1, 2}
    clusters = client.get("/clusters").get_json()["clusters"]
    assert len(clusters) == 3 and sum(c["size"] for c in clusters) == len(api_data.users)


def test_a_new_rating_is_stored_and_left_out_afterwards(client: FlaskClient) -> None:
    first = client.get("/recommendations?user_id=4&k=5").get_json()["recommendations"][0]
    posted = client.post("/scores", json={"user_id": 4, "movie_id": first["movie_id"],
                                          "rating": 5})
    assert posted.status_code == 201
    assert posted.get_json()["rating"] == 5
    again = client.get("/recommendations?user_id=4&k=5").get_json()["recommendations"]
    assert first["movie_id"] not in [r["movie_id"] for r in again] and len(again) == 5
    assert first["movie_id"] in [s["movie_id"] for s in
                                 client.get("/scores/4").get_json()["scores"]]
    duplicate = client.post("/scores", json={"user_id": 4, "movie_id": first["movie_id"],
                                             "rating": 3})
    assert "already rated" in error_body(duplicate, 409)["message"]


def test_similar_movies(client: FlaskClient) -> None:
    body = client.get("/similar_movies?movie_id=7&k=5").get_json()
    assert len(body["similar"]) == 5 and 7 not in [m["movie_id"] for m in body["similar"]]
    content = client.get("/similar_movies?movie_id=7&k=5&kind=content").get_json()
    assert content["kind"] == "content"


def test_a_whole_rating_written_as_a_float_is_a_whole_rating(
        client: FlaskClient, api_data: datasets.Dataset) -> None:
    """JSON does not tell 4 from 4.0: on whole stars both are four stars (4.5 stays 400)."""
    user, movie = free_pairs(api_data, 2)[1]
    posted = client.post("/scores", json={"user_id": user, "movie_id": movie, "rating": 4.0})
    assert posted.status_code == 201, posted.get_json()
    assert posted.get_json()["rating"] == 4


@pytest.mark.parametrize("url", ["/movies/99999", "/scores/99999", "/users/99999",
                                 "/recommendations?user_id=99999&k=5",
                                 "/similar_movies?movie_id=99999&k=5"])
def test_unknown_ids_are_404(client: FlaskClient, url: str) -> None:
    assert "does not exist" in error_body(client.get(url), 404)["message"]


def test_unknown_ids_in_a_new_score_are_404(client: FlaskClient) -> None:
    assert "user_id 99999" in error_body(client.post(
        "/scores", json={"user_id": 99999, "movie_id": 1, "rating": 3}), 404)["message"]
    assert "movie_id 99999" in error_body(client.post(
        "/scores", json={"user_id": 1, "movie_id": 99999, "rating": 3}), 404)["message"]


def test_offsets_are_converted_to_utc_and_returned_with_an_offset(
        client: FlaskClient, api_data: datasets.Dataset) -> None:
    (user, movie), (user2, movie2) = free_pairs(api_data, 2)
    odd = client.post("/scores", json={"user_id": user, "movie_id": movie, "rating": 4,
                                       "rated_at": "2000-01-01T00:00:00+16:19"})
    assert odd.status_code == 201, odd.get_data(as_text=True)
    assert odd.get_json()["rated_at"] == "1999-12-31T07:41:00+00:00"
    naive = client.post("/scores", json={"user_id": user2, "movie_id": movie2, "rating": 2,
                                         "rated_at": "2001-02-03T04:05:06"})
    assert naive.get_json()["rated_at"] == "2001-02-03T04:05:06+00:00"  # naive is UTC
    listed = client.get(f"/scores/{user}").get_json()["scores"]
    assert any(s["rated_at"] == "1999-12-31T07:41:00+00:00" for s in listed)
    assert all(ISO_WITH_OFFSET.match(s["rated_at"]) for s in listed)
    assert ISO_WITH_OFFSET.match(client.get(f"/users/{user}").get_json()["active_since"])


def test_the_database_stores_utc(loaded: Engine, client: FlaskClient,
                                 api_data: datasets.Dataset) -> None:
    ((user, movie),) = free_pairs(api_data, 1)
    client.post("/scores", json={"user_id": user, "movie_id": movie, "rating": 5,
                                 "rated_at": "1998-06-01T12:00:00-03:00"})
    with loaded.connect() as conn:
        stored = conn.execute(select(Score.rated_at).where(
            Score.user_id == user, Score.movie_id == movie)).scalar_one()
    assert pd.Timestamp(stored) == pd.Timestamp("1998-06-01 15:00:00")


def test_concurrent_new_ratings_all_succeed(app: Flask, loaded: Engine,
                                            api_data: datasets.Dataset) -> None:
    pairs = free_pairs(api_data, 600)
    before = db.table_counts(loaded)["scores"]
    statuses: list[int] = []
    lock = threading.Lock()
    with BackgroundServer(app, threads=8) as server:
        def worker(chunk: list[tuple[int, int]]) -> None:
            for user, movie in chunk:
                status = _post(server.url + "/scores",
                               {"user_id": user, "movie_id": movie, "rating": 3})
                with lock:
                    statuses.append(status)
        threads = [threading.Thread(target=worker, args=(pairs[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert statuses.count(201) == 600, {s: statuses.count(s) for s in set(statuses)}
    assert db.table_counts(loaded)["scores"] == before + 600


def test_the_same_rating_twice_at_once_is_one_201_and_one_409(
        app: Flask, api_data: datasets.Dataset) -> None:
    pairs = free_pairs(api_data, 20)
    with BackgroundServer(app, threads=8) as server:
        for user, movie in pairs:
            barrier = threading.Barrier(2)
            out: list[int] = []

            def race() -> None:
                barrier.wait()
                out.append(_post(server.url + "/scores",
                                 {"user_id": user, "movie_id": movie, "rating": 4}))
            threads = [threading.Thread(target=race) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(out) == [201, 409], (user, movie, out)
