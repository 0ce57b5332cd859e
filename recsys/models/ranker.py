"""The ranking half of the recommender: a rating-weighted EASE item-item model.

EASE (Steck, 2019) is a closed-form item-item model on who-watched-what:
``B = I - P / diag(P)`` with ``P = (X'X + lambda I)^-1`` and a zero diagonal; a user's scores
are ``X_u B``. Here each rating weighs ``1 + w (r - 3)`` in ``X``, so what a user liked counts
more than what they merely watched. The evaluation's plain EASE baseline uses the same
:func:`ease_weights`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def ease_weights(X: np.ndarray, l2: float) -> np.ndarray:
    """The EASE item-item weight matrix for a user x item matrix ``X``."""
    gram = (X.T @ X).astype(np.float64)
    gram[np.diag_indices_from(gram)] += l2
    P = np.linalg.inv(gram)
    B = -P / np.diag(P)
    B[np.diag_indices_from(B)] = 0.0
    return B.astype(np.float32)


@dataclass(frozen=True)
class Ranker:
    """A fitted ranker. Arrays are indexed by position (row/column 0: the unknown user or
    movie, always empty).

    Attributes:
        history: user x movie rating weights (0 where the user rated nothing).
        weights: the EASE item-item matrix.
        popularity: log(1 + ratings) per movie (the cold-start list leans on it).
    """

    history: np.ndarray
    weights: np.ndarray
    popularity: np.ndarray

    @classmethod
    def fit(cls, u: np.ndarray, m: np.ndarray, r: np.ndarray, n_users: int, n_movies: int,
            l2: float, rating_weight: float) -> Ranker:
        """Fit on position arrays of the training ratings."""
        history = np.zeros((n_users, n_movies), np.float32)
        history[u, m] = 1.0 + rating_weight * (r - 3.0)
        history[:, 0] = 0.0
        counts = np.bincount(m, minlength=n_movies).astype(np.float64)
        return cls(history, ease_weights(history, l2), np.log1p(counts))

    def scores(self, users: np.ndarray) -> np.ndarray:
        """EASE scores of every known movie (columns 1..) for users (positions)."""
        return (self.history[users] @ self.weights)[:, 1:].astype(np.float64)

    def has_history(self, users: np.ndarray) -> np.ndarray:
        """Whether each user (position) has training ratings."""
        return self.history[users].any(axis=1)

    def seen(self, user: int) -> np.ndarray:
        """Positions (from 1) of the movies a user rated in training."""
        return np.flatnonzero(self.history[user, 1:]) + 1
