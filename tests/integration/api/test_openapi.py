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


def test_every_documented_error_shows_its_own_true_example(app, client: FlaskClient,
                                                            api_data) -> None:
    """Swagger UI shows, under each status, an answer the API really gives for it: the
    requests below get exactly the documented bodies (409's ids are the data's own)."""
    import json
    import re

    from support import DownStore

    from recsys.api.errors import EXAMPLES

    spec = client.get("/openapi.json").get_json()
    shown = {status: response["content"]["application/problem+json"]["example"]
             for path in spec["paths"].values() for operation in path.values()
             if isinstance(operation, dict)
             for status, response in operation["responses"].items()
             if "application/problem+json" in response.get("content", {})}
    assert set(shown) == {str(s) for s in EXAMPLES}
    for status, example in shown.items():
        assert example == EXAMPLES[int(status)]
        assert example["status"] == example["code"] == int(status)
        assert example["detail"] == example["message"]
    default = spec["components"]["schemas"]["Problem"]["properties"]
    assert default["status"]["example"] == 500 and "errors" not in shown["404"]

    def answer(response: object) -> dict:
        return response.get_json()  # type: ignore[attr-defined]

    assert answer(client.get("/recommendations?user_id=1&k=0")) == EXAMPLES[400]
    assert answer(client.get("/recommendations?user_id=99999")) == EXAMPLES[404]
    big = json.dumps({"user_id": 1, "movie_id": 1, "rating": 3, "pad": "x" * 200_000})
    assert answer(client.post("/scores", data=big,
                              content_type="application/json")) == EXAMPLES[413]
    assert answer(client.post("/scores", data="x", content_type="text/plain")) == EXAMPLES[415]
    user, movie = (int(v) for v in api_data.scores[["user_id", "movie_id"]].iloc[0])
    duplicate = answer(client.post("/scores", json={"user_id": user, "movie_id": movie,
                                                    "rating": 3}))
    same_shape = re.compile(r"user \d+ already rated movie \d+")
    assert same_shape.fullmatch(duplicate["detail"])
    assert same_shape.fullmatch(EXAMPLES[409]["detail"])
    assert {k: v for k, v in duplicate.items() if k not in ("detail", "message")} == \
        {k: v for k, v in EXAMPLES[409].items() if k not in ("detail", "message")}
    app.extensions["recsys"].store = DownStore("OpenSearch unreachable: connection refused")
    assert answer(client.get("/similar_movies?movie_id=7&k=5")) == EXAMPLES[503]


@pytest.mark.realdata
def test_the_recommendations_example_is_a_true_answer_on_the_course_data(real_load) -> None:
    """The 200 example recommends to user 1 movies user 1 has not rated, with their titles
    and all their genres as the catalogue lists them, and the document shows it."""
    from recsys.api import schemas

    example = schemas.RECOMMENDATIONS_EXAMPLE
    documented = schemas.Recommendations()
    assert documented.dump(documented.load(example)) == example
    data = real_load.dataset
    rated = set(data.scores.loc[data.scores["user_id"] == example["user_id"], "movie_id"])
    movies = data.movies.set_index("id")
    for item in example["recommendations"]:
        assert item["movie_id"] not in rated
        row = movies.loc[item["movie_id"]]
        assert item["title"] == row["title"]
        assert sorted(item["genres"]) == sorted(row["genres"])
        assert item["reason"]["because_movie_id"] in rated
