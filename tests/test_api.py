"""The recommendations API on SQLite and on a real PostgreSQL 15: every endpoint, every error
case, a dependency that is down, released sessions, the OpenAPI document, Swagger UI in
headless Chromium, and batch prediction."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import free_pairs
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from recsys import datasets, db
from recsys.api import create_app
from recsys.api.server import BackgroundServer
from recsys.config import Settings
from recsys.db.schema import Prediction
from recsys.models import ModelConfig, Recommender
from recsys.predictions import batch
from recsys.vectors import embeddings
from recsys.vectors.base import VectorStoreUnavailable
from recsys.vectors.local import LocalVectorStore

QUICK = ModelConfig(max_epochs=8, ensemble=1, seed=5)


@pytest.fixture(scope="module")
def data(api_data: datasets.Dataset) -> datasets.Dataset:
    return api_data


@pytest.fixture(scope="module")
def model(api_model: Recommender) -> Recommender:
    return api_model


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == status and body.get("message") or body.get("errors")
    return body


# -- endpoints ---------------------------------------------------------------------------------


def test_ping_touches_nothing(client: FlaskClient) -> None:
    assert client.get("/ping").get_json() == {"status": "ok"}


def test_health_reports_every_service(client: FlaskClient, model: Recommender) -> None:
    body = client.get("/health").get_json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "up" and body["vector_store"]["status"] == "up"
    assert body["model"]["version"] == model.version


def test_movie_and_movie_search(client: FlaskClient, data: datasets.Dataset) -> None:
    body = client.get("/movies/3").get_json()
    expected = data.movies.set_index("id").loc[3]
    assert body["title"] == expected["title"] and body["genres"] == expected["genres"]
    assert body["ratings"] == int((data.scores["movie_id"] == 3).sum())
    page = client.get("/movies?genre=Action&page=2&per_page=5").get_json()
    with_action = data.movies[data.movies["genres"].map(lambda g: "Action" in g)]
    assert page["total"] == len(with_action)
    assert [m["id"] for m in page["movies"]] == with_action["id"].iloc[5:10].tolist()
    titled = client.get("/movies?title=movie%201%20(").get_json()
    assert [m["id"] for m in titled["movies"]] == [1]
    tricky = client.get("/movies", query_string={"title": "'); DROP TABLE movies;--"})
    assert tricky.status_code == 200 and tricky.get_json()["total"] == 0


def test_scores_and_users(client: FlaskClient, data: datasets.Dataset) -> None:
    body = client.get("/scores/2").get_json()
    mine = data.scores[data.scores["user_id"] == 2]
    assert body["count"] == len(mine)
    assert {s["movie_id"] for s in body["scores"]} == set(mine["movie_id"])
    assert all("rated_at" in s and "title" in s for s in body["scores"])
    user = client.get("/users/2").get_json()
    assert user["ratings"] == len(mine) and user["cluster"]["id"] in {0, 1, 2}
    clusters = client.get("/clusters").get_json()["clusters"]
    assert len(clusters) == 3 and sum(c["size"] for c in clusters) == len(data.users)


def test_recommendations_from_stored_predictions_with_reasons(client: FlaskClient,
                                                              loaded: Engine) -> None:
    body = client.get("/recommendations?user_id=4&k=5").get_json()
    assert body["source"] == "stored" and body["cold_start"] is False
    recs = body["recommendations"]
    with loaded.connect() as conn:
        stored = conn.execute(select(Prediction.movie_id).where(Prediction.user_id == 4)
                              .order_by(Prediction.rank).limit(5)).scalars().all()
    assert [r["movie_id"] for r in recs] == stored
    for r in recs:
        assert 1 <= r["predicted_rating"] <= 5
        assert r["reason"]["text"].startswith("because you rated")
        assert r["reason"]["because_movie_id"] is not None


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
    assert "already rated" in _error(duplicate, 409)["message"]


def test_live_scoring_and_cold_start(app: Flask, client: FlaskClient, loaded: Engine) -> None:
    with loaded.begin() as conn:  # behind the API's back: seen at the next refresh
        conn.execute(Prediction.__table__.delete().where(Prediction.user_id == 6))
    assert app.extensions["recsys"].cache.refresh()
    live = client.get("/recommendations?user_id=6&k=4").get_json()
    assert live["source"] == "live" and len(live["recommendations"]) == 4
    cold = client.get("/recommendations?user_id=500&k=4").get_json()
    assert cold["cold_start"] is True and cold["source"] in {"cold_start", "stored"}
    assert len(cold["recommendations"]) == 4


def test_movies_dropped_by_a_replace_are_skipped_not_a_500(app: Flask, client: FlaskClient,
                                                          loaded: Engine,
                                                          data: datasets.Dataset) -> None:
    """An ``ingest --replace`` that drops movies the model and the index know: every user
    still gets k recommendations of movies that exist (read model and database paths alike),
    similar movies skip the dropped ones, and /health says the model is stale."""
    kept_movies = data.movies[data.movies["id"] % 3 != 0]
    scores = data.scores[data.scores["movie_id"].isin(kept_movies["id"])]
    db.ingest(datasets.Dataset(data.persons, data.users, data.workers, kept_movies, scores),
              loaded, replace=True, force=True)
    services = app.extensions["recsys"]
    assert services.cache.refresh()
    present = set(kept_movies["id"])
    cache = services.cache
    try:
        for path in ("read model", "database"):
            services.cache = cache if path == "read model" else None
            for user_id in data.users["id"]:
                response = client.get(f"/recommendations?user_id={user_id}&k=10")
                assert response.status_code == 200, (path, response.get_data(as_text=True))
                got = [r["movie_id"] for r in response.get_json()["recommendations"]]
                assert len(got) == 10 and set(got) <= present, (path, user_id, got)
            for movie_id in sorted(present)[:5]:
                body = client.get(f"/similar_movies?movie_id={movie_id}&k=10").get_json()
                similar = [r["movie_id"] for r in body["similar"]]
                assert len(similar) == 10 and set(similar) <= present, (path, similar)
    finally:
        services.cache = cache
    health = client.get("/health")
    assert health.status_code == 503
    model_state = health.get_json()["model"]
    assert model_state["status"] == "stale"
    assert model_state["movies_gone"] == len(data.movies) - len(kept_movies)
    assert "recsys train" in model_state["error"]


def test_a_session_that_cannot_close_is_logged_never_a_500(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A database restarted while a request holds a session: closing it in the teardown
    fails after the answer was made. The answer stands (here a 200) and a warning is logged;
    before, the teardown's OperationalError became gunicorn's HTML 500."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    def restarted(self: Session) -> None:
        raise OperationalError("ROLLBACK", {}, Exception("server closed the connection "
                                                          "unexpectedly"))

    monkeypatch.setattr(Session, "close", restarted)
    response = client.get("/movies?title=a&per_page=2")  # read through the request's session
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "closing a database session failed" in caplog.text


@pytest.mark.parametrize("method,path", [("PUT", "/scores"), ("PATCH", "/movies/1"),
                                         ("DELETE", "/scores"), ("PUT", "/no/such/path")])
def test_a_method_or_path_that_does_not_exist_is_answered_before_the_body(
        client: FlaskClient, method: str, path: str) -> None:
    """Routing comes first: a PUT to a POST-only path is 405 with Allow, not 415 for its
    missing JSON body (schemathesis' ST204); an unknown path is 404."""
    response = client.open(path, method=method)
    expected = 404 if path == "/no/such/path" else 405
    body = _error(response, expected)
    assert body["status"] == expected
    if expected == 405:
        assert response.headers["Allow"]


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


def test_a_newly_trained_model_is_picked_up(app: Flask, data: datasets.Dataset,
                                            tmp_path: Path) -> None:
    services = app.extensions["recsys"]
    assert services.reload_model_if_new() is False  # no artifact under this var dir yet
    newer = Recommender(QUICK).fit(data.scores, data)
    newer.save(services.settings.model_dir)
    assert services.reload_model_if_new() is True
    assert services.model.version == newer.version
    assert app.test_client().get("/health").get_json()["model"]["version"] == newer.version


def test_similar_movies(client: FlaskClient) -> None:
    body = client.get("/similar_movies?movie_id=7&k=5").get_json()
    assert len(body["similar"]) == 5 and 7 not in [m["movie_id"] for m in body["similar"]]
    content = client.get("/similar_movies?movie_id=7&k=5&kind=content").get_json()
    assert content["kind"] == "content"


# -- errors ------------------------------------------------------------------------------------

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


@pytest.mark.parametrize("url,parameter", BAD_QUERIES)
def test_bad_parameters_are_400_naming_the_parameter(client: FlaskClient, url: str,
                                                     parameter: str) -> None:
    body = _error(client.get(url), 400)
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
    body = _error(client.post("/scores", json=payload), 400)
    assert field in body["errors"]["json"]


def test_malformed_json_is_400(client: FlaskClient) -> None:
    response = client.post("/scores", data="{not json", content_type="application/json")
    assert _error(response, 400)["detail"] == "the request body: Invalid JSON body."


def _chunked(client: FlaskClient, body: bytes) -> Any:
    """POST /scores with a chunked body, as gunicorn and waitress hand one to the app."""
    import io

    return client.post("/scores", input_stream=io.BytesIO(body),
                       headers={"Content-Type": "application/json",
                                "Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})


def test_a_chunked_body_over_the_limit_is_413_and_a_small_one_is_read(
        client: FlaskClient, api_data: datasets.Dataset) -> None:
    """Issue "Reliability, round 3" #10: a chunked body has no length to check up front;
    over 64 KB it was cut and called invalid JSON (400 with a Python list in the detail)."""
    padding = b"x" * (64 * 1024)
    body = _error(_chunked(client, b'{"pad": "' + padding + b'"}'), 413)
    assert "65536 bytes" in body["detail"]
    user, movie = free_pairs(api_data, 1)[0]
    small = f'{{"user_id": {user}, "movie_id": {movie}, "rating": 3}}'.encode()
    assert _chunked(client, small).status_code == 201


def test_a_whole_rating_written_as_a_float_is_a_whole_rating(
        client: FlaskClient, api_data: datasets.Dataset) -> None:
    """JSON does not tell 4 from 4.0: on whole stars both are four stars (4.5 stays 400)."""
    user, movie = free_pairs(api_data, 2)[1]
    posted = client.post("/scores", json={"user_id": user, "movie_id": movie, "rating": 4.0})
    assert posted.status_code == 201, posted.get_json()
    assert posted.get_json()["rating"] == 4


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


@pytest.mark.parametrize("url", ["/movies/99999", "/scores/99999", "/users/99999",
                                 "/recommendations?user_id=99999&k=5",
                                 "/similar_movies?movie_id=99999&k=5"])
def test_unknown_ids_are_404(client: FlaskClient, url: str) -> None:
    assert "does not exist" in _error(client.get(url), 404)["message"]


def test_unknown_ids_in_a_new_score_are_404(client: FlaskClient) -> None:
    assert "user_id 99999" in _error(client.post(
        "/scores", json={"user_id": 99999, "movie_id": 1, "rating": 3}), 404)["message"]
    assert "movie_id 99999" in _error(client.post(
        "/scores", json={"user_id": 1, "movie_id": 99999, "rating": 3}), 404)["message"]


def test_vector_store_down_is_503(app: Flask, client: FlaskClient) -> None:
    class DownStore:
        def get(self, *args: Any, **kwargs: Any) -> Any:
            raise VectorStoreUnavailable("OpenSearch unreachable: connection refused")

        knn = get

        def ping(self) -> bool:
            return False

        def exists(self, name: str) -> bool:
            return False

        def version(self) -> Any:
            return ("down",)

        def problem(self) -> str:
            return "OpenSearch unreachable"

    app.extensions["recsys"].store = DownStore()
    assert "vector store is unavailable" in _error(
        client.get("/similar_movies?movie_id=7&k=5"), 503)["message"]
    health = client.get("/health")
    assert health.status_code == 503
    assert health.get_json()["vector_store"]["status"] == "down"
    assert client.get("/movies/1").status_code == 200  # the rest keeps working


def test_database_down_is_503_not_500(data: datasets.Dataset, model: Recommender,
                                      tmp_path: Path) -> None:
    gone = tmp_path / "nowhere" / "db.sqlite"
    engine = db.make_engine(f"sqlite:///{gone}")
    shutil.rmtree(gone.parent)  # the folder vanishes: every connection fails
    settings = Settings(data_dir=tmp_path, var_dir=tmp_path, database_url=str(engine.url))
    app = create_app(settings, engine=engine, store=LocalVectorStore(tmp_path / "v"),
                     model=model)
    client = app.test_client()
    app.extensions["recsys"].cache.stop()
    assert client.get("/movies/1").status_code == 503
    assert client.get("/recommendations?user_id=1&k=3").status_code == 503
    health = client.get("/health")
    assert health.status_code == 503 and health.get_json()["database"]["status"] == "down"


def test_no_trained_model_yet_is_503_with_a_clear_message(data: datasets.Dataset,
                                                           engine: Engine,
                                                           tmp_path: Path) -> None:
    db.ingest(data, engine)  # data, but nothing trained, predicted or indexed yet
    settings = Settings(data_dir=tmp_path, var_dir=tmp_path / "var",
                        database_url=str(engine.url))
    app = create_app(settings, engine=engine, store=LocalVectorStore(tmp_path / "v"))
    app.extensions["recsys"].cache.stop()
    client = app.test_client()
    health = client.get("/health")
    assert health.status_code == 503
    assert "recsys train" in health.get_json()["model"]["error"]
    body = _error(client.get("/recommendations?user_id=1&k=3"), 503)
    assert "recsys train" in body["message"]
    assert _error(client.get("/similar_movies?movie_id=1&k=3"), 503)
    assert client.get("/movies/1").status_code == 200


def test_sessions_are_released(data: datasets.Dataset, model: Recommender, engine: Engine,
                               tmp_path: Path) -> None:
    db.ingest(data, engine)
    tight = db.make_engine(str(engine.url.render_as_string(hide_password=False)),
                           pool_size=2, max_overflow=0, pool_timeout=2)
    store = LocalVectorStore(tmp_path / "v")
    embeddings.index_all(data, store, model)
    settings = Settings(data_dir=tmp_path, var_dir=tmp_path, database_url=str(tight.url))
    app = create_app(settings, engine=tight, store=store, model=model)
    app.extensions["recsys"].cache.stop()
    app.extensions["recsys"].cache = None  # every endpoint on its database path
    client = app.test_client()
    urls = ["/movies/1", "/scores/1", "/recommendations?user_id=1&k=3", "/users/1",
            "/movies/99999", "/recommendations?user_id=1&k=abc"]
    for i in range(60):  # the original hung after 15 requests
        assert client.get(urls[i % len(urls)]).status_code in (200, 400, 404)
    assert tight.pool.checkedout() == 0
    tight.dispose()


# -- OpenAPI and Swagger UI --------------------------------------------------------------------


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


def test_swagger_ui_renders_in_headless_chromium(app: Flask, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian package chromium is required (apt-get install chromium)"
    with BackgroundServer(app) as server, tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=15000",
             "--dump-dom", server.url + "/swagger"],
            capture_output=True, text=True, timeout=120)
    dom = done.stdout
    assert "swagger-ui" in dom, done.stderr[-2000:]
    for path in ["/recommendations", "/similar_movies", "/movies/{movie_id}", "/health"]:
        assert f'data-path="{path}"' in dom, path
    spec = app.test_client().get("/openapi.json").get_json()
    operations = sum(1 for item in spec["paths"].values() for method in item
                     if method in {"get", "post", "put", "patch", "delete"})
    assert dom.count('class="opblock-summary-method"') == operations == 10


# -- batch prediction --------------------------------------------------------------------------


def test_batch_predictions_cover_every_user_without_seen_movies(
        loaded: Engine, data: datasets.Dataset, model: Recommender) -> None:
    from recsys.models import ModelError

    with pytest.raises(ModelError, match="trained on 70 movies but the data has 60"):
        batch.run(loaded, model, top_n=15)  # the fixture holds another dataset
    db.ingest(data, loaded, replace=True)
    result = batch.run(loaded, model, top_n=15)
    with loaded.connect() as conn:
        rows = pd.DataFrame(conn.execute(select(Prediction.user_id, Prediction.movie_id,
                                                Prediction.rank, Prediction.model_version)
                                         ).all())
    assert result["rows"] == len(rows) == 15 * len(data.users)
    assert set(rows["user_id"]) == set(data.users["id"])
    assert (rows.groupby("user_id")["rank"].apply(sorted).map(list)
            == [list(range(1, 16))] * len(data.users)).all()
    assert rows.merge(data.scores, on=["user_id", "movie_id"]).empty
    assert set(rows["model_version"]) == {model.version}
    again = batch.run(loaded, model, top_n=5)  # replaces, never appends
    with loaded.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Prediction)).scalar_one() == \
            again["rows"] == 5 * len(data.users)


def test_batch_predictions_match_the_model(data: datasets.Dataset, model: Recommender) -> None:
    rated = data.scores[["user_id", "movie_id"]]
    frame = batch.predict_all(model, np.array([3]), rated, top_n=10)
    direct = model.recommend(3, k=10)
    assert frame["movie_id"].tolist() == direct["movie_id"].tolist()
    np.testing.assert_allclose(frame["predicted_rating"], direct["predicted_rating"], atol=1e-4)
