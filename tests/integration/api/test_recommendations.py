"""Which movies a user gets, from which source, and why (recsys/api/recommendations.py)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from recsys import datasets, db
from recsys.db.schema import Prediction


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
                                                          api_data: datasets.Dataset) -> None:
    """An ``ingest --replace`` that drops movies the model and the index know: every user
    still gets k recommendations of movies that exist (read model and database paths alike),
    similar movies skip the dropped ones, and /health says the model is stale."""
    kept_movies = api_data.movies[api_data.movies["id"] % 3 != 0]
    scores = api_data.scores[api_data.scores["movie_id"].isin(kept_movies["id"])]
    db.ingest(datasets.Dataset(api_data.persons, api_data.users, api_data.workers, kept_movies,
                               scores), loaded, replace=True, force=True)
    services = app.extensions["recsys"]
    assert services.cache.refresh()
    present = set(kept_movies["id"])
    cache = services.cache
    try:
        for path in ("read model", "database"):
            services.cache = cache if path == "read model" else None
            for user_id in api_data.users["id"]:
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
    assert model_state["movies_gone"] == len(api_data.movies) - len(kept_movies)
    assert "recsys train" in model_state["error"]
