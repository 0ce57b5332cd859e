"""Every user's ratings and stored predictions as flat arrays: the API's compact read model.

Up to ``RECSYS_API_MEMORY_RATINGS`` ratings the read model keeps a Python set and list per
user (:class:`recsys.readmodel.refresh.Snapshot`), about 100 bytes per rating. Past that, the rows
live here instead: each user's ratings and stored top-N are one slice of a few NumPy arrays
sorted by user (8 bytes per rating, 24 per stored prediction: 0.6 GB for 25 million ratings
and 16 million stored predictions), read once with COPY. A request turns only its own user's
slice into Python objects: no database round trip per request, which is what kept
/recommendations at 10M-25M ratings above 100 ms at 32 connections when the rows were read
from PostgreSQL per request (bench/RESULTS.md, "Scale").

Ratings applied after the load (``POST /scores`` or the background refresh) are kept beside
the arrays, per user, until the next full reload.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine

from recsys.db.export import group_bounds, read_table
from recsys.db.schema import Prediction, Score, whole_if_whole
from recsys.rules import LIKED_RATING

SCORE_COLUMNS = {"id": "int64", "user_id": "int64", "movie_id": "int32", "rating": "float32",
                 "rated_at": "datetime64[ns]"}
PREDICTION_COLUMNS = {"user_id": "int64", "movie_id": "int32", "rank": "int32",
                      "predicted_rating": "float64", "score": "float64",
                      "model_version": "category"}


@dataclass
class UserRows:
    """Ratings (best first, newest first within a rating) and stored predictions (by rank)
    of every user, one slice per user.

    Attributes:
        rated_users / rated_bounds: users with ratings (sorted) and where their slice of
            ``rated_movie`` / ``rated_value`` starts and ends.
        pred_users / pred_bounds: the same for the stored predictions.
        versions: model versions of the stored predictions (``pred_version`` indexes it).
        added: ratings applied since the arrays were read, per user, oldest first.
    """

    rated_users: np.ndarray
    rated_bounds: np.ndarray
    rated_movie: np.ndarray
    rated_value: np.ndarray
    pred_users: np.ndarray
    pred_bounds: np.ndarray
    pred_movie: np.ndarray
    pred_rating: np.ndarray
    pred_score: np.ndarray
    pred_version: np.ndarray
    versions: list[str]
    added: dict[int, list[tuple[int, float]]] = field(default_factory=dict)

    @classmethod
    def read(cls, engine: Engine | Connection) -> tuple[UserRows, pd.DataFrame]:
        """Read both tables (on a connection: inside its transaction's snapshot); also
        returns the ratings (the caller's movie statistics come from the same rows)."""
        scores = read_table(engine, Score.__tablename__, SCORE_COLUMNS)
        predictions = read_table(engine, Prediction.__tablename__, PREDICTION_COLUMNS)
        return cls.build(scores, predictions), scores

    @classmethod
    def build(cls, scores: pd.DataFrame, predictions: pd.DataFrame) -> UserRows:
        """Arrays from the two tables' rows (any order)."""
        # by user; best rating first; newest first (a later id breaks a tie of instants)
        order = np.lexsort((-scores["id"].to_numpy(),
                            -scores["rated_at"].to_numpy().astype(np.int64),
                            -scores["rating"].to_numpy(), scores["user_id"].to_numpy()))
        rated_users, rated_bounds = group_bounds(scores["user_id"].to_numpy()[order])
        order_p = np.lexsort((predictions["rank"].to_numpy(),
                              predictions["user_id"].to_numpy()))
        pred_users, pred_bounds = group_bounds(predictions["user_id"].to_numpy()[order_p])
        version = predictions["model_version"].astype("category").cat
        return cls(rated_users, rated_bounds,
                   scores["movie_id"].to_numpy(np.int32)[order],
                   scores["rating"].to_numpy(np.float32)[order],
                   pred_users, pred_bounds,
                   predictions["movie_id"].to_numpy(np.int32)[order_p],
                   predictions["predicted_rating"].to_numpy(np.float64)[order_p],
                   predictions["score"].to_numpy(np.float64)[order_p],
                   version.codes.to_numpy()[order_p],
                   [str(v) for v in version.categories])

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return sum(a.nbytes for a in vars(self).values() if isinstance(a, np.ndarray))

    def add(self, user_id: int, movie_id: int, rating: float) -> None:
        """A rating stored after the arrays were read."""
        self.added.setdefault(user_id, []).append((movie_id, rating))

    @staticmethod
    def _slice(users: np.ndarray, bounds: np.ndarray, user_id: int) -> slice:
        at = int(np.searchsorted(users, user_id))
        if at < len(users) and users[at] == user_id:
            return slice(int(bounds[at]), int(bounds[at + 1]))
        return slice(0, 0)

    def of(self, user_id: int) -> tuple[set[int], list[tuple[int, Any]],
                                         list[tuple[int, float, float, str]]]:
        """One user's rated movies, liked movies (movie, rating; best first, newest first)
        and stored predictions (movie, predicted rating, score, model version; by rank)."""
        mine = self._slice(self.rated_users, self.rated_bounds, user_id)
        movies = self.rated_movie[mine].tolist()
        values = self.rated_value[mine]
        n_liked = int(np.searchsorted(-values, -LIKED_RATING, side="right"))
        liked = [(m, whole_if_whole(r))
                 for m, r in zip(movies[:n_liked], values[:n_liked].tolist())]
        rated = set(movies)
        for movie, rating in self.added.get(user_id, []):
            rated.add(movie)
            if rating >= LIKED_RATING:  # best first, newest first within a rating
                position = bisect.bisect_left([-r for _, r in liked], -rating)
                liked.insert(position, (movie, rating))
        stored = self._slice(self.pred_users, self.pred_bounds, user_id)
        predictions = [(m, r, s, self.versions[v]) for m, r, s, v in zip(
            self.pred_movie[stored].tolist(), self.pred_rating[stored].tolist(),
            self.pred_score[stored].tolist(), self.pred_version[stored].tolist())]
        return rated, liked, predictions
