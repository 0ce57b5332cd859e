"""Batch prediction: every user's top-N unseen movies, scored in one vectorised pass and stored.

For all users x all movies the trained :class:`~recsys.model.Recommender` computes ranking
scores and predicted ratings as matrices; movies a user has rated (in the training data or in
the database now) are masked; the top N per user go to the ``predictions`` table with rank,
predicted rating, ranking score and model version. The table is replaced in one transaction
(PostgreSQL readers keep seeing the old rows until commit; SQLite in WAL mode gives readers
the last committed snapshot), so nobody ever sees a half-written set.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, select

from recsys import db
from recsys.errors import UsageError
from recsys.evaluation import mask_seen, top_columns
from recsys.schema import Movie, Prediction, Score, User

COLUMNS = ["user_id", "movie_id", "predicted_rating", "rank", "score", "model_version"]


def predict_all(model: Any, user_ids: np.ndarray, rated: pd.DataFrame, top_n: int = 100,
                batch: int = 1024) -> pd.DataFrame:
    """Top ``top_n`` unseen movies of every user.

    Args:
        model: a trained Recommender.
        user_ids: users to score.
        rated: (user_id, movie_id) pairs to leave out besides the model's training ratings.
        top_n: rows per user.

    Returns:
        Columns of the predictions table.
    """
    if top_n < 1:
        raise UsageError(f"top_n must be at least 1, got {top_n}")
    catalogue = model.movie_ids
    frames = []
    for start in range(0, len(user_ids), batch):
        users = np.asarray(user_ids[start:start + batch])
        scores = model.score_items(users)
        ratings = np.clip(model._rating_matrix(model._users(users)), 1.0, 5.0)
        seen = model._ranker_X[model._users(users)][:, 1:] > 0
        scores = mask_seen(np.where(seen, -np.inf, scores), users, rated, catalogue)
        order = top_columns(scores, top_n)
        n = order.shape[1]
        top_scores = np.take_along_axis(scores, order, 1)
        top_ratings = np.take_along_axis(ratings, order, 1)
        keep = np.isfinite(top_scores)
        frames.append(pd.DataFrame({
            "user_id": np.repeat(users, n)[keep.ravel()],
            "movie_id": catalogue[order.ravel()][keep.ravel()],
            "predicted_rating": top_ratings.ravel()[keep.ravel()].round(4),
            "rank": np.tile(np.arange(1, n + 1), len(users))[keep.ravel()],
            "score": top_scores.ravel()[keep.ravel()].round(6),
        }))
    out = pd.concat(frames, ignore_index=True)
    out["model_version"] = model.version or "unsaved"
    return out[COLUMNS]


def write(engine: Engine, predictions: pd.DataFrame) -> int:
    """Replace the predictions table with ``predictions`` in one transaction."""
    db.create_schema(engine)
    with engine.begin() as conn:
        conn.execute(delete(Prediction))
        db.bulk_insert(conn, "predictions", predictions[COLUMNS])
    return len(predictions)


def run(engine: Engine, model: Any, top_n: int = 100) -> dict[str, Any]:
    """Score every user of the database and store the top ``top_n`` per user.

    Returns:
        Rows written, users, model version and seconds taken.
    """
    start = time.perf_counter()
    with engine.connect() as conn:
        movie_ids = conn.execute(select(Movie.id)).scalars().all()
        model.check_catalogue(movie_ids)  # a clear error instead of foreign-key failures
        users = np.array(conn.execute(select(User.id).order_by(User.id)).scalars().all())
        rated = pd.DataFrame(conn.execute(select(Score.user_id, Score.movie_id)).all(),
                             columns=["user_id", "movie_id"])
    predictions = predict_all(model, users, rated, top_n)
    rows = write(engine, predictions)
    return {"rows": rows, "users": int(len(users)), "top_n": top_n,
            "model_version": model.version, "seconds": round(time.perf_counter() - start, 3)}


def top_for_user(engine: Engine, user_id: int, k: int = 10) -> pd.DataFrame:
    """A user's stored top-k with titles (what /recommendations serves from)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Prediction.rank, Prediction.movie_id, Movie.title,
                   Prediction.predicted_rating, Prediction.score, Prediction.model_version)
            .join(Movie, Movie.id == Prediction.movie_id)
            .where(Prediction.user_id == int(user_id)).order_by(Prediction.rank).limit(k))
        return pd.DataFrame(rows.all(), columns=list(rows.keys()))
