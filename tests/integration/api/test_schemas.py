"""What the API refuses before the database (recsys/api/schemas.py): bad parameters and bodies are
400 naming the field, ids beyond the integer range, control characters, out-of-range instants."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from support import error_body, problem

from recsys import db

BAD_QUERIES = [
    ("/recommendations?k=5", "user_id"),
    ("/recommendations?user_id=1&k=abc", "k"),
    ("/recommendations?user_id=1&k=0", "k"),
    ("/recommendations?user_id=1&k=-3", "k"),
    ("/recommendations?user_id=1&k=101", "k"),
    ("/recommendations?user_id=1&k=2.5", "k"),
    ("/recommendations?user_id=x&k=5", "user_id"),
    ("/similar_movies?movie_id=abc&k=3", "movie_id"),
    ("/similar_movies?movie_id=1&k=1000", "k"),
    ("/similar_movies?movie_id=1&k=3&kind=magic", "kind"),
    ("/movies?page=0", "page"),
    ("/movies?per_page=1000", "per_page"),
    ("/movies?year_from=abc", "year_from"),
]


HUGE = [2**31, 2**63, 2**64, 10**30]


@pytest.mark.parametrize("url,parameter", BAD_QUERIES)
def test_bad_parameters_are_400_naming_the_parameter(client: FlaskClient, url: str,
                                                     parameter: str) -> None:
    body = error_body(client.get(url), 400)
    assert parameter in body["errors"]["query"]
    assert parameter in body["message"]


@pytest.mark.parametrize("payload,field", [
    ({"user_id": 1, "movie_id": 1}, "rating"),
    ({"user_id": 1, "movie_id": 1, "rating": 6}, "rating"),
    ({"user_id": 1, "movie_id": 1, "rating": 0}, "rating"),
    ({"user_id": 1, "movie_id": 1, "rating": "5"}, "rating"),
    ({"user_id": 1, "movie_id": 1, "rating": 4.5}, "rating"),
    ({"user_id": "me", "movie_id": 1, "rating": 4}, "user_id"),
    ({"user_id": 1, "movie_id": 1, "rating": 4, "rated_at": "yesterday"}, "rated_at"),
    # Python's parser reads past a trailing NUL; the rule does not
    ({"user_id": 1, "movie_id": 1, "rating": 4, "rated_at": "2020-01-01T00:00:00\x00"},
     "rated_at"),
])
def test_bad_score_bodies_are_400(client: FlaskClient, payload: dict, field: str) -> None:
    body = error_body(client.post("/scores", json=payload), 400)
    assert field in body["errors"]["json"]


@pytest.mark.parametrize("huge", HUGE)
def test_ids_beyond_the_database_range_are_client_errors(client: FlaskClient, huge: int) -> None:
    for url in (f"/movies/{huge}", f"/scores/{huge}", f"/users/{huge}"):
        assert "does not exist" in problem(client.get(url), 404)["detail"]
    for url in (f"/recommendations?user_id={huge}&k=5", f"/similar_movies?movie_id={huge}"):
        body = problem(client.get(url), 400)
        assert set(body["errors"]["query"]) & {"user_id", "movie_id"}
    posted = client.post("/scores", json={"user_id": huge, "movie_id": 1, "rating": 3})
    assert "user_id" in problem(posted, 400)["errors"]["json"]


@pytest.mark.parametrize("query", ["title=%00", "genre=%00", "title=a%01b", "genre=Drama%1f"])
def test_control_characters_are_refused(client: FlaskClient, query: str) -> None:
    body = problem(client.get(f"/movies?{query}"), 400)
    assert "control characters" in json.dumps(body["errors"])


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
                                  "1989-12-31T23:59:59+00:00", "2999-01-01T00:00:00"])
def test_out_of_range_instants_are_refused_before_the_database(
        client: FlaskClient, loaded: Engine, when: str) -> None:
    before = db.table_counts(loaded)["scores"]
    body = problem(client.post("/scores", json={"user_id": 4, "movie_id": 1, "rating": 4,
                                                "rated_at": when}), 400)
    assert "rated_at" in body["errors"]["json"]
    assert db.table_counts(loaded)["scores"] == before
    assert client.get("/scores/4").status_code == 200


def test_k_defaults_to_ten_and_invalid_k_is_still_400(client: FlaskClient) -> None:
    body = client.get("/recommendations?user_id=4").get_json()
    assert body["k"] == 10 and len(body["recommendations"]) == 10
    assert "k" in problem(client.get("/recommendations?user_id=4&k=0"), 400)["errors"]["query"]
