"""Implicit alternating least squares (iALS): a low-rank model of who watched what, for ranking.

Hu, Koren and Volinsky (2008), with the regularisation of Rendle et al., "Revisiting the
Performance of iALS on Item Recommendation Benchmarks" (2022): every rated pair has target 1
and weight 1, every other pair target 0 and weight ``unobserved`` (alpha_0), and a row's L2
penalty grows with how much it is fitted, ``l2 * (n_rated + unobserved * n_other)``. The
user and movie factors are solved for in turn, each a ridge regression in closed form.

Why it is in the ranking: EASE (:mod:`recsys.models.ranker`) is a full-rank item-item model;
iALS makes different errors (a smooth low-rank taste space), so the two together rank better
than either (bench/RESULTS.md, "The ranking ensemble"). Members trained from different random
starts are averaged, which here is the product of their concatenated factors.

Vectorised: the per-row Gram matrices ``sum_i y_i y_i^T`` are one sparse product of the
rating matrix with every movie's flattened outer product, solved as a batch, in row chunks
so that memory stays bounded at any size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

#: Chosen on the benchmark's folds (bench/RESULTS.md): 32 factors per member, 8 sweeps.
FACTORS = 32
UNOBSERVED = 0.2
L2 = 0.01
ITERATIONS = 8
#: Rows solved at once (bounds the batch of factors x factors systems in memory).
CHUNK = 4096


@dataclass(frozen=True)
class ImplicitFactors:
    """Fitted iALS factors by position (row 0: the unknown user or movie, all zeros)."""

    users: np.ndarray
    movies: np.ndarray

    @cached_property
    def _known_movies64(self) -> np.ndarray:
        return self.movies[1:].astype(np.float64)

    def scores(self, users: np.ndarray) -> np.ndarray:
        """Scores of every known movie (columns 1..) for users (positions), in float64 (the
        same numbers whatever the batch, see :meth:`recsys.models.factors.Factors.matrix`)."""
        return self.users[np.asarray(users)].astype(np.float64) @ self._known_movies64.T


def _solve(rated: sp.csr_matrix, other: np.ndarray, unobserved: float, l2: float
           ) -> np.ndarray:
    """Each row's factors given the other side's: ridge regressions in closed form."""
    dim = other.shape[1]
    gram = unobserved * (other.T @ other)
    outer = (other[:, :, None] * other[:, None, :]).reshape(len(other), dim * dim)
    counts = np.diff(rated.indptr)
    out = np.zeros((rated.shape[0], dim))
    eye = np.eye(dim)
    for start in range(0, rated.shape[0], CHUNK):
        rows = rated[start:start + CHUNK]
        n = counts[start:start + CHUNK]
        mass = np.asarray(rows @ outer).reshape(-1, dim, dim)
        penalty = l2 * (n + unobserved * rated.shape[1])
        systems = gram[None] + (1.0 - unobserved) * mass + penalty[:, None, None] * eye[None]
        targets = np.asarray(rows @ other)
        out[start:start + CHUNK] = np.linalg.solve(systems, targets[:, :, None])[:, :, 0]
    out[counts == 0] = 0.0
    return out


#: Sweeps of a warm start (from the movie factors of a model fitted on part of the ratings).
WARM_ITERATIONS = 3


def fit(u: np.ndarray, m: np.ndarray, n_users: int, n_movies: int, members: int, seed: int,
        factors: int = FACTORS, unobserved: float = UNOBSERVED, l2: float = L2,
        iterations: int = ITERATIONS, initial: ImplicitFactors | None = None
        ) -> ImplicitFactors:
    """iALS on the rated (user, movie) positions; ``members`` models from seeds ``seed``,
    ``seed + 1``, ... whose scores are summed (their factors concatenated).

    ``initial``: a model of the same shape fitted on part of these ratings: each member
    starts from its movie factors and sweeps :data:`WARM_ITERATIONS` times."""
    if initial is not None and initial.movies.shape != (n_movies, members * factors):
        initial = None
    rated = sp.csr_matrix((np.ones(len(u)), (np.asarray(u), np.asarray(m))),
                          shape=(n_users, n_movies))
    rated.data[:] = 1.0  # a pair rated twice is still one observation
    by_movie = rated.T.tocsr()
    users, movies = [], []
    for member in range(members):
        rng = np.random.default_rng(seed + member)
        scale = 0.1 / np.sqrt(factors)
        user_f = rng.normal(0.0, scale, (n_users, factors))
        movie_f = rng.normal(0.0, scale, (n_movies, factors))
        sweeps = iterations
        if initial is not None:
            movie_f = initial.movies[:, member * factors:(member + 1) * factors].astype(
                np.float64)
            sweeps = min(iterations, WARM_ITERATIONS)
        for _ in range(sweeps):
            user_f = _solve(rated, movie_f, unobserved, l2)
            movie_f = _solve(by_movie, user_f, unobserved, l2)
        users.append(user_f)
        movies.append(movie_f)
    return ImplicitFactors(np.hstack(users).astype(np.float32),
                           np.hstack(movies).astype(np.float32))
