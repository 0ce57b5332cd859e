"""Rating biases: the global mean plus regularised user and movie offsets. The rating blend's
KNN-baseline (:mod:`recsys.models.blend`) and the evaluation's ``biases`` baseline both use
them."""

from __future__ import annotations

import numpy as np


def biases(u: np.ndarray, m: np.ndarray, r: np.ndarray, n_users: int, n_movies: int,
           reg_user: float = 5.0, reg_movie: float = 5.0,
           iterations: int = 15) -> tuple[float, np.ndarray, np.ndarray]:
    """Global mean, user and movie biases by alternating regularised least squares."""
    mean = float(r.mean())
    bu, bm = np.zeros(n_users), np.zeros(n_movies)
    nu = np.bincount(u, minlength=n_users)
    nm = np.bincount(m, minlength=n_movies)
    for _ in range(iterations):
        bm = np.bincount(m, r - mean - bu[u], n_movies) / (nm + reg_movie)
        bu = np.bincount(u, r - mean - bm[m], n_users) / (nu + reg_user)
    return mean, bu, bm
