"""The OpenAPI document (recsys/api/openapi.py, schemas.py): valid and complete, stating the rules
the API applies, and the fast path's answers matching it."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


@pytest.mark.parametrize("url,schema", [
    ("/recommendations?user_id=4&k=5", "Recommendations"),
    ("/recommendations?user_id=500&k=5", "Recommendations"),
    ("/similar_movies?movie_id=7&k=5", "SimilarMovies"),
    ("/movies/3", "MovieOut"),
])
def test_fast_path_responses_match_the_documented_schema(client: FlaskClient, url: str,
                                                          schema: str) -> None:
    from recsys.api import schemas

    body = client.get(url).get_json()
    documented = getattr(schemas, schema)()
    assert documented.dump(documented.load(body)) == body


def test_the_document_states_the_rules_the_api_applies(client: FlaskClient) -> None:
    """Schema-valid requests are never refused (schemathesis' positive-data check): the
    rating is the served data's scale, text fields carry the control-character rule and
    rated_at a pattern of instants valid on any day."""
    import re

    spec = client.get("/openapi.json").get_json()
    new_score = spec["components"]["schemas"]["NewScore"]["properties"]
    assert {k: new_score["rating"][k] for k in ("type", "minimum", "maximum")} == \
        {"type": "integer", "minimum": 1, "maximum": 5}
    pattern = re.compile(new_score["rated_at"]["pattern"])
    assert pattern.match("1998-04-01T12:00:00+00:00") and pattern.match("2001-12-28T00:00Z")
    for outside in ("1990-01-01T00:00:00+13:00", "2020-02-30T00:00:00", "9999-01-01T00:00",
                    "2020-01-01T00:00:00\x00"):
        assert not pattern.match(outside), outside
    title = next(p for p in spec["paths"]["/movies"]["get"]["parameters"]
                 if p["name"] == "title")
    assert not re.match(title["schema"]["pattern"], "bad\x07title")
    assert re.match(title["schema"]["pattern"], "Star Wars (1977)")


def test_openapi_document_is_valid_and_complete(client: FlaskClient) -> None:
    from openapi_spec_validator import validate

    spec = client.get("/openapi.json").get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    for path in ["/ping", "/health", "/movies/{movie_id}", "/movies", "/scores/{user_id}",
                 "/scores", "/users/{user_id}", "/clusters", "/recommendations",
                 "/similar_movies"]:
        assert path in spec["paths"], path
    params = {p["name"]: p for p in spec["paths"]["/recommendations"]["get"]["parameters"]}
    assert not params["k"].get("required") and params["k"]["schema"]["default"] == 10
    assert params["k"]["schema"]["maximum"] == 100 and params["user_id"]["required"]
    assert "400" in spec["paths"]["/recommendations"]["get"]["responses"]
