"""Errors as problem+json (recsys/api/errors.py): malformed and oversized bodies, unknown methods
and paths answered before the body, nothing private in an answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import DownStore, error_body, free_pairs, problem

from recsys import datasets


def _chunked(client: FlaskClient, body: bytes) -> Any:
    """POST /scores with a chunked body, as gunicorn and waitress hand one to the app."""
    import io

    return client.post("/scores", input_stream=io.BytesIO(body),
                       headers={"Content-Type": "application/json",
                                "Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})


@pytest.mark.parametrize("method,path", [("PUT", "/scores"), ("PATCH", "/movies/1"),
                                         ("DELETE", "/scores"), ("PUT", "/no/such/path")])
def test_a_method_or_path_that_does_not_exist_is_answered_before_the_body(
        client: FlaskClient, method: str, path: str) -> None:
    """Routing comes first: a PUT to a POST-only path is 405 with Allow, not 415 for its
    missing JSON body (schemathesis' ST204); an unknown path is 404."""
    response = client.open(path, method=method)
    expected = 404 if path == "/no/such/path" else 405
    body = error_body(response, expected)
    assert body["status"] == expected
    if expected == 405:
        assert response.headers["Allow"]


def test_malformed_json_is_400(client: FlaskClient) -> None:
    response = client.post("/scores", data="{not json", content_type="application/json")
    assert error_body(response, 400)["detail"] == "the request body: Invalid JSON body."


def test_a_chunked_body_over_the_limit_is_413_and_a_small_one_is_read(
        client: FlaskClient, api_data: datasets.Dataset) -> None:
    """Issue "Reliability, round 3" #10: a chunked body has no length to check up front;
    over 64 KB it was cut and called invalid JSON (400 with a Python list in the detail)."""
    padding = b"x" * (64 * 1024)
    body = error_body(_chunked(client, b'{"pad": "' + padding + b'"}'), 413)
    assert "65536 bytes" in body["detail"]
    user, movie = free_pairs(api_data, 1)[0]
    small = f'{{"user_id": {user}, "movie_id": {movie}, "rating": 3}}'.encode()
    assert _chunked(client, small).status_code == 201


def test_oversized_and_mistyped_requests_are_json(client: FlaskClient) -> None:
    assert "query string" in problem(client.get("/movies?title=" + "a" * 100_000),
                                     414)["detail"]
    assert "headers" in problem(client.get("/ping", headers={"X-Big": "a" * 100_000}),
                                431)["detail"]
    assert "Content-Type" in problem(client.post("/scores", data="x",
                                                 content_type="text/plain"), 415)["detail"]
    problem(client.post("/scores", data={"user_id": "1"}), 415)
    big = json.dumps({"user_id": 1, "movie_id": 1, "rating": 3, "pad": "x" * 200_000})
    assert "larger than" in problem(client.post("/scores", data=big,
                                                content_type="application/json"),
                                    413)["detail"]
    problem(client.get("/no/such/path"), 404)
    not_allowed = client.delete("/scores")
    problem(not_allowed, 405)
    assert "POST" in not_allowed.headers["Allow"]


def test_public_answers_hide_paths_and_exception_names(client: FlaskClient, app: Flask,
                                                      tmp_path: Path) -> None:
    health = client.get("/health").get_data(as_text=True)
    assert str(tmp_path) not in health and "Error" not in health

    app.extensions["recsys"].store = DownStore("OpenSearch unreachable: ConnectionError(secret)")
    body = problem(client.get("/similar_movies?movie_id=3&k=3&kind=content"), 503)
    assert "secret" not in json.dumps(body) and "ConnectionError" not in json.dumps(body)
