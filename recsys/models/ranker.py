"""The ranking half of the recommender: a rating-weighted EASE item-item model.

EASE (Steck, 2019) is a closed-form item-item model on who-watched-what:
``B = I - P / diag(P)`` with ``P = (X'X + lambda I)^-1`` and a zero diagonal; a user's scores
are ``X_u B``. Here each rating weighs ``1 + w (r - 3)`` in ``X``, so what a user liked counts
more than what they merely watched. The evaluation's plain EASE baseline uses the same
:func:`recsys.algorithms.ease.ease_weights`.

Scale: ``X`` is a sparse matrix (users x movies, one entry per rating), and EASE's dense
movies x movies inverse is computed over the ``max_items`` most-rated movies only (every
movie while the catalogue is small: MovieLens 100K and 1M; the top 10,000 of MovieLens 25M's
62,000 carry 96% of its ratings). Movies outside that set get a neutral EASE score of 0, so
the predicted-rating part of the ranking score orders them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys.algorithms.ease import (
    MAX_ITEMS,
    covered_items,
    ease_weights,
    gram_matrix,
    weights_from_gram,
)
from recsys.algorithms.topk import top_columns
from recsys.rules import LIKED_RATING, NEUTRAL_RATING

#: EASE's lambda is chosen on this ladder, on the validation slice, when the scale rules ask
#: for it (``ModelConfig.ranker_l2_search``): the best value grows with how many ratings each
#: movie has (on the 25M-rating synthetic set, holdout NDCG@10 of EASE alone: 0.1466 at 500,
#: 0.1547 at 5,000, 0.1558 at 20,000; bench/RESULTS.md). The search starts at the middle
#: two values and climbs while NDCG improves (:func:`climb`).
L2_GRID = (500.0, 2_000.0, 8_000.0, 32_000.0, 128_000.0)
#: Where the climb starts on :data:`L2_GRID`: this rung and the next (2,000 and 8,000).
L2_START = 1
#: Validation users the lambda search ranks for (a seeded sample when there are more).
L2_SEARCH_USERS = 3_000

#: The liking score: log sigmoid((r - LIKING_THRESHOLD) / LIKING_SCALE) of a predicted rating
#: r, the log-chance that it lands at 4 stars or more (the evaluation's relevant ratings;
#: the scale was chosen on the benchmark's folds, bench/RESULTS.md).
LIKING_THRESHOLD = LIKED_RATING - 0.5
LIKING_SCALE = 0.5


def liking(ratings: np.ndarray) -> np.ndarray:
    """The log-chance that each predicted rating means the user likes the movie."""
    return -np.logaddexp(0.0, -(ratings - LIKING_THRESHOLD) / LIKING_SCALE)



def climb(ladder: tuple[float, ...], measure: Callable[[float], float],
          start: int = L2_START) -> tuple[float, dict[float, float]]:
    """The best value on a sorted ladder for a measure that rises then falls along it, and
    every value measured (in the order measured).

    Measures ``ladder[start]`` and its upper neighbour, then steps towards the better one
    while the measure improves: on a 5-rung ladder 3 fits instead of 5 when the best is
    inside, and still every rung up to the end when it keeps improving. Ties keep the
    smaller value.
    """
    found: dict[float, float] = {}

    def at(i: int) -> float:
        if ladder[i] not in found:
            found[ladder[i]] = measure(ladder[i])
        return found[ladder[i]]

    if len(ladder) == 1:
        return ladder[0], {ladder[0]: measure(ladder[0])}
    low = min(max(start, 0), len(ladder) - 2)
    best, step = (low + 1, 1) if at(low + 1) > at(low) else (low, -1)
    while 0 <= best + step < len(ladder) and at(best + step) > at(best):
        best += step
    return ladder[best], found


def search_l2(u: np.ndarray, m: np.ndarray, r: np.ndarray, is_val: np.ndarray, n_users: int,
              n_movies: int, rating_weight: float, max_items: int = MAX_ITEMS,
              grid: tuple[float, ...] = L2_GRID, k: int = 10, seed: int = 0
              ) -> tuple[float, dict[float, float]]:
    """EASE's lambda with the best NDCG@k on the validation slice (``is_val``), fitted on
    the rest, climbing the sorted ``grid`` (:func:`climb`); and the NDCG of every value
    tried. Relevant: validation ratings of at least ``LIKED_RATING``, ranked among the
    movies the user has not rated in the rest (the evaluation's protocol, on a seeded sample
    of :data:`L2_SEARCH_USERS` users)."""
    import pandas as pd

    from recsys.algorithms.columns import ITEM, RANK, RATING, USER
    from recsys.algorithms.metrics import ranking_metrics

    train = ~is_val
    history = history_matrix(u[train], m[train], r[train], n_users, n_movies, rating_weight)
    items = covered_items(np.bincount(m[train], minlength=n_movies).astype(np.float64),
                          max_items)
    gram = gram_matrix(history[:, items])
    liked = is_val & (r >= LIKED_RATING)
    users = np.unique(u[liked])
    if len(users) > L2_SEARCH_USERS:
        users = np.sort(np.random.default_rng(seed).choice(users, L2_SEARCH_USERS,
                                                           replace=False))
    held = np.isin(u, users) & is_val
    test = pd.DataFrame({USER: u[held], ITEM: m[held], RATING: r[held]})
    rows = history[users][:, items].toarray().astype(np.float64)
    seen = rows != 0

    def ndcg(l2: float) -> float:
        scores = rows @ weights_from_gram(gram, l2)
        scores[seen] = -np.inf
        top = top_columns(scores, k)
        recs = pd.DataFrame({USER: np.repeat(users, top.shape[1]), ITEM: items[top].ravel(),
                             RANK: np.tile(np.arange(1, top.shape[1] + 1), len(users))})
        return float(ranking_metrics(test, recs, k, threshold=LIKED_RATING)[f"ndcg@{k}"])

    return climb(tuple(sorted(grid)), ndcg)


def history_matrix(u: np.ndarray, m: np.ndarray, r: np.ndarray, n_users: int, n_movies: int,
                   rating_weight: float) -> sp.csr_matrix:
    """Users x movies (positions) CSR of rating weights ``1 + w (r - 3)``; column 0 (the
    unknown movie) stays empty."""
    weights = (1.0 + rating_weight * (np.asarray(r, np.float32) - NEUTRAL_RATING))
    keep = np.asarray(m) > 0
    matrix = sp.csr_matrix((weights[keep].astype(np.float32), (u[keep], m[keep])),
                           shape=(n_users, n_movies), dtype=np.float32)
    matrix.sum_duplicates()
    return matrix


@dataclass(frozen=True)
class Ranker:
    """A fitted ranker. Positions index users and movies (0: the unknown user or movie,
    always empty).

    Attributes:
        history: users x movies CSR of rating weights (what each user rated, and how).
        items: positions of the movies EASE covers (sorted).
        weights: the EASE item-item matrix over ``items``.
        popularity: log(1 + ratings) per movie (the cold-start list leans on it).
    """

    history: sp.csr_matrix
    items: np.ndarray
    weights: np.ndarray
    popularity: np.ndarray

    @classmethod
    def fit(cls, u: np.ndarray, m: np.ndarray, r: np.ndarray, n_users: int, n_movies: int,
            l2: float, rating_weight: float, max_items: int = MAX_ITEMS) -> Ranker:
        """Fit on position arrays of the training ratings."""
        history = history_matrix(u, m, r, n_users, n_movies, rating_weight)
        counts = np.bincount(m, minlength=n_movies).astype(np.float64)
        items = covered_items(counts, max_items)
        return cls(history, items, ease_weights(history[:, items], l2), np.log1p(counts))

    @classmethod
    def restore(cls, u: np.ndarray, m: np.ndarray, r: np.ndarray, n_users: int, n_movies: int,
                rating_weight: float, items: np.ndarray, weights: np.ndarray) -> Ranker:
        """A saved ranker: its history rebuilt from the ratings, EASE weights as saved."""
        history = history_matrix(u, m, r, n_users, n_movies, rating_weight)
        counts = np.bincount(m, minlength=n_movies).astype(np.float64)
        return cls(history, np.asarray(items, np.int64), weights, np.log1p(counts))

    def scores(self, users: np.ndarray) -> np.ndarray:
        """EASE scores of every known movie (columns 1..) for users (positions); 0 for the
        movies EASE does not cover."""
        rows = self.history[users][:, self.items]
        out = np.zeros((len(users), self.history.shape[1]), np.float64)
        out[:, self.items] = rows @ self.weights
        return out[:, 1:]

    def has_history(self, users: np.ndarray) -> np.ndarray:
        """Whether each user (position) has training ratings."""
        return np.diff(self.history.indptr)[np.asarray(users)] > 0

    def seen(self, user: int) -> np.ndarray:
        """Positions (from 1) of the movies a user rated in training."""
        start, end = self.history.indptr[user], self.history.indptr[user + 1]
        return np.sort(self.history.indices[start:end])

    def seen_mask(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) of every movie the users rated, columns counted from movie 1
        (as in :meth:`scores`)."""
        rows = self.history[users]
        return np.repeat(np.arange(len(users)), np.diff(rows.indptr)), rows.indices - 1
