"""What evaluation compares the model with, behind one small interface (:class:`Scorer`):
``fit(train, data)``, ``predict(user_ids, movie_ids, at=None)`` (rating scale, or ``None`` when the
scorer predicts no ratings) and ``score_items(user_ids)`` (a score per catalogue movie, higher
is better). Register a new one in :mod:`recsys.training.registry`."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.algorithms.biases import biases
from recsys.algorithms.columns import ITEM, RATING, USER
from recsys.algorithms.ease import MAX_ITEMS, covered_items, ease_weights
from recsys.datasets.tables import Dataset


class Scorer(Protocol):
    """What evaluation needs from a model or baseline."""

    name: str

    def fit(self, train: pd.DataFrame, data: Dataset) -> Scorer: ...

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray,
                at: Any = None) -> np.ndarray | None:
        """Predicted ratings (``at``: each rating's date, when known; most ignore it)."""
        ...

    def score_items(self, user_ids: np.ndarray) -> np.ndarray | None: ...

    @property
    def movie_ids(self) -> np.ndarray: ...


class Indexed:
    """Dense indices for users and movies of the catalogue (all movies in ``data``): the
    base of every baseline here and of the ranking peers (:mod:`recsys.peers`)."""

    name = "base"

    def _index(self, train: pd.DataFrame, data: Dataset) -> None:
        self._movie_ids = np.sort(data.movies["id"].to_numpy())
        self._user_ids = np.sort(np.union1d(data.users["id"].to_numpy(),
                                            train[USER].unique()))
        self.movie_pos = pd.Series(np.arange(len(self._movie_ids)), index=self._movie_ids)
        self.user_pos = pd.Series(np.arange(len(self._user_ids)), index=self._user_ids)

    @property
    def movie_ids(self) -> np.ndarray:
        return self._movie_ids

    def _pos(self, index: pd.Series, ids: np.ndarray) -> np.ndarray:
        """Positions of ``ids``; -1 for ids never seen."""
        return index.reindex(np.asarray(ids)).fillna(-1).to_numpy(dtype=np.int64)

    def interactions(self, train: pd.DataFrame) -> sp.csr_matrix:
        """Sparse 0/1 user x movie matrix of the training ratings (dense would be 38 GB at
        MovieLens 25M's 162,000 users x 62,000 movies)."""
        u = self._pos(self.user_pos, train[USER])
        m = self._pos(self.movie_pos, train[ITEM])
        matrix = sp.csr_matrix((np.ones(len(u), np.float32), (u, m)),
                               shape=(len(self._user_ids), len(self._movie_ids)))
        matrix.data[:] = 1.0  # a pair rated twice is still one interaction
        return matrix


class GlobalMean(Indexed):
    """Predicts the mean training rating for everything; ranks nothing."""

    name = "global_mean"

    def fit(self, train: pd.DataFrame, data: Dataset) -> GlobalMean:
        self._index(train, data)
        self.mean = float(train[RATING].mean())
        return self

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray, at: Any = None) -> np.ndarray:
        return np.full(len(user_ids), self.mean)

    def score_items(self, user_ids: np.ndarray) -> None:
        return None


class Biases(Indexed):
    """Regularised user and item biases around the global mean (alternating least squares).

    Ranking uses the item bias (the same top list for everyone, minus what they have seen).
    """

    name = "biases"

    def __init__(self, reg_user: float = 5.0, reg_item: float = 5.0, iterations: int = 10):
        self.reg_user, self.reg_item, self.iterations = reg_user, reg_item, iterations

    def fit(self, train: pd.DataFrame, data: Dataset) -> Biases:
        self._index(train, data)
        self.low, self.high = data.info.rating_scale.low, data.info.rating_scale.high
        u = self._pos(self.user_pos, train[USER])
        i = self._pos(self.movie_pos, train[ITEM])
        r = train[RATING].to_numpy(dtype=np.float64)
        self.mean, self.bu, self.bi = biases(u, i, r, len(self._user_ids), len(self._movie_ids),
                                             self.reg_user, self.reg_item, self.iterations)
        return self

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray, at: Any = None) -> np.ndarray:
        u = self._pos(self.user_pos, user_ids)
        i = self._pos(self.movie_pos, movie_ids)
        bu = np.where(u >= 0, self.bu[np.maximum(u, 0)], 0.0)
        bi = np.where(i >= 0, self.bi[np.maximum(i, 0)], 0.0)
        return np.clip(self.mean + bu + bi, self.low, self.high)

    def score_items(self, user_ids: np.ndarray) -> np.ndarray:
        return np.tile(self.bi, (len(user_ids), 1))


class Popularity(Indexed):
    """Ranks movies by how many training ratings they have; predicts no ratings."""

    name = "popularity"

    def fit(self, train: pd.DataFrame, data: Dataset) -> Popularity:
        self._index(train, data)
        counts = train.groupby(ITEM).size()
        self.counts = counts.reindex(self._movie_ids, fill_value=0).to_numpy(dtype=np.float64)
        return self

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray, at: Any = None) -> None:
        return None

    def score_items(self, user_ids: np.ndarray) -> np.ndarray:
        return np.tile(self.counts, (len(user_ids), 1))


class ItemToItem(Indexed):
    """A scorer whose scores are ``X_u W``: a user's row of who-watched-what times a movie x
    movie weight matrix over the ``max_items`` most-rated movies (the others score 0). EASE
    here and RP3beta (:mod:`recsys.peers.rp3beta`) differ only in how ``W`` is fitted."""

    max_items: int = MAX_ITEMS
    W: np.ndarray

    def _cover(self, train: pd.DataFrame, data: Dataset) -> np.ndarray:
        """Index, build ``X`` and choose the covered movies; the rating count of each."""
        self._index(train, data)
        self.X = self.interactions(train)
        counts = np.asarray(self.X.sum(axis=0)).ravel()
        # covered_items counts positions from 1 (0 is the ranker's unknown movie)
        self.items = covered_items(np.concatenate([[0.0], counts]), self.max_items) - 1
        return counts

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray, at: Any = None) -> None:
        return None

    def score_items(self, user_ids: np.ndarray) -> np.ndarray:
        u = self._pos(self.user_pos, user_ids)
        out = np.zeros((len(u), len(self._movie_ids)))
        out[:, self.items] = self.X[np.maximum(u, 0)][:, self.items] @ self.W
        out[u < 0] = 0.0  # users the training data never saw
        return out


class EASE(ItemToItem):
    """EASE (Steck, 2019): a closed-form item-item model on who-watched-what.

    B = I - P / diag(P) with P = (X'X + lambda I)^-1, zero diagonal; a user's scores are X_u B.
    As in the model's ranker, B covers the ``max_items`` most-rated movies (every movie up to
    MovieLens 1M); the others score 0.
    """

    name = "ease"

    def __init__(self, l2: float = 500.0, max_items: int = MAX_ITEMS):
        self.l2, self.max_items = l2, max_items

    def fit(self, train: pd.DataFrame, data: Dataset) -> EASE:
        self._cover(train, data)
        self.W = ease_weights(self.X[:, self.items], self.l2)
        return self
