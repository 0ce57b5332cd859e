"""Batch prediction: every user's top-N unseen movies, scored in one vectorised pass and stored.

For every user the trained :class:`~recsys.models.Recommender` ranks every movie at once
(:meth:`~recsys.models.Recommender.recommend_many`, users in chunks); movies a user has rated
(in the training data or in the database now) are left out; the top N per user go to the
``predictions`` table with rank, predicted rating, ranking score and model version. The
table is replaced in one transaction
(PostgreSQL readers keep seeing the old rows until commit; SQLite in WAL mode gives readers
the last committed snapshot), so nobody ever sees a half-written set.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, select

from recsys import db
from recsys.db.schema import Movie, Prediction, Score, User
from recsys.errors import UsageError
from recsys.models import Recommender
from recsys.predictions.sharding import WHOLE, Shard

if TYPE_CHECKING:
    from recsys.config import Settings

COLUMNS = ["user_id", "movie_id", "predicted_rating", "rank", "score", "model_version"]


def predict_all(model: Recommender, user_ids: np.ndarray, rated: pd.DataFrame,
                top_n: int = 100) -> pd.DataFrame:
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
    out = model.recommend_many(user_ids, top_n, exclude_seen=True, exclude=rated)
    out["predicted_rating"] = out["predicted_rating"].round(4)
    out["score"] = out["score"].round(6)
    out["model_version"] = model.version or "unsaved"
    return out[COLUMNS]


def write(engine: Engine, predictions: pd.DataFrame, shard: Shard = WHOLE) -> int:
    """Replace the predictions of ``shard``'s users (all of them by default) with
    ``predictions`` in one transaction."""
    db.create_schema(engine)
    with engine.begin() as conn:
        clear = delete(Prediction)
        if not shard.whole:
            clear = clear.where(shard.where(Prediction.user_id))
        conn.execute(clear)
        db.bulk_insert(conn, "predictions", predictions[COLUMNS])
    return len(predictions)


def run(engine: Engine, model: Recommender, top_n: int = 100,
        shard: Shard = WHOLE) -> dict[str, Any]:
    """Score every user of the database (or of ``shard``: N machines share the work, each
    replacing its own users' rows) and store the top ``top_n`` per user.

    Returns:
        Rows written, users, shard, model version and seconds taken.
    """
    start = time.perf_counter()
    with engine.connect() as conn:
        movie_ids = conn.execute(select(Movie.id)).scalars().all()
        model.check_catalogue(movie_ids)  # a clear error instead of foreign-key failures
        users_query = select(User.id).order_by(User.id)
        if not shard.whole:
            users_query = users_query.where(shard.where(User.id))
        users = np.array(conn.execute(users_query).scalars().all(), dtype=np.int64)
    rated = db.rated_pairs(engine, None if shard.whole else shard.where(Score.user_id))
    read = time.perf_counter()
    predictions = predict_all(model, users, rated, top_n)
    scored = time.perf_counter()
    rows = write(engine, predictions, shard)
    end = time.perf_counter()
    return {"rows": rows, "users": int(len(users)), "top_n": top_n, "shard": str(shard),
            "model_version": model.version, "seconds": round(end - start, 3),
            "seconds_by_step": {"read": round(read - start, 3), "score": round(scored - read, 3),
                                "write": round(end - scored, 3)}}


def run_from_settings(settings: Settings, top_n: int = 100, shard: Shard = WHOLE) -> dict[str, Any]:
    """:func:`run` against what ``settings`` name: the database and the latest model saved
    under its model folder (what ``recsys predict`` and each of its Ray tasks do)."""
    engine = db.make_engine(settings.database_url)
    try:
        model = Recommender.load(settings.model_dir, movie_ids=db.movie_ids(engine))
        return run(engine, model, top_n=top_n, shard=shard)
    finally:
        engine.dispose()


def top_for_user(engine: Engine, user_id: int, k: int = 10,
                 with_version: bool = True) -> pd.DataFrame:
    """A user's stored top-k with titles, as batch prediction wrote them (the API serves
    these minus the movies rated since, and scores live when none are stored);
    ``with_version`` False leaves out the model version (the same on every row)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Prediction.rank, Prediction.movie_id, Movie.title,
                   Prediction.predicted_rating, Prediction.score, Prediction.model_version)
            .join(Movie, Movie.id == Prediction.movie_id)
            .where(Prediction.user_id == int(user_id)).order_by(Prediction.rank).limit(k))
        table = pd.DataFrame(rows.all(), columns=list(rows.keys()))
    return table if with_version else table.drop(columns=["model_version"])
