"""EASE's closed form (Steck, 2019): ``B = I - P / diag(P)`` with ``P = (X'X + lambda I)^-1``
and a zero diagonal; a user's scores are ``X_u B``. The model's rating-weighted ranker
(:mod:`recsys.models.ranker`) and the evaluation's plain EASE baseline both use it."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: Default number of movies EASE covers (its inverse is max_items^2 doubles: 800 MB here).
MAX_ITEMS = 10_000


def gram_matrix(X: np.ndarray | sp.spmatrix) -> np.ndarray:
    """``X'X`` as a dense float64 matrix."""
    gram = X.T @ X
    gram = gram.toarray() if sp.issparse(gram) else np.asarray(gram)
    return gram.astype(np.float64)


def spd_inverse(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive definite matrix, through its Cholesky factor
    (LAPACK ``potrf`` then ``potri``): half the work of a general inverse (``n^3`` against
    ``2 n^3``), which is most of EASE's fit at 10,000 movies. ``matrix`` is overwritten."""
    from scipy.linalg import lapack

    factor, info = lapack.dpotrf(matrix, lower=False, clean=False, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"not positive definite (LAPACK potrf info {info})")
    inverse, info = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"singular matrix (LAPACK potri info {info})")
    # potri fills the upper triangle only: mirror it, a band of columns at a time (no
    # full-size temporary)
    n, band = len(inverse), 1024
    for start in range(0, n, band):
        stop = min(start + band, n)
        square = inverse[start:stop, start:stop]
        square[...] = np.triu(square) + np.triu(square, 1).T
        inverse[stop:, start:stop] = inverse[start:stop, stop:].T
    return inverse


def weights_from_gram(gram: np.ndarray, l2: float) -> np.ndarray:
    """EASE's ``B = I - P / diag(P)``, ``P = (G + lambda I)^-1``, zero diagonal (``gram``
    is left unchanged). ``G + lambda I`` is symmetric positive definite for ``lambda > 0``."""
    regularised = np.array(gram, dtype=np.float64, order="F")
    regularised[np.diag_indices_from(regularised)] += l2
    # LAPACK hands back a column-major array; P is symmetric, so its transpose is the same
    # matrix in row-major order, the layout sparse x dense products read 3x faster
    P = spd_inverse(regularised).T
    B = -P / np.diag(P)
    B[np.diag_indices_from(B)] = 0.0
    return B.astype(np.float32)


def ease_weights(X: np.ndarray | sp.spmatrix, l2: float) -> np.ndarray:
    """The EASE item-item weight matrix for a user x item matrix ``X`` (dense or sparse)."""
    return weights_from_gram(gram_matrix(X), l2)


def covered_items(counts: np.ndarray, max_items: int) -> np.ndarray:
    """The positions (sorted) of the ``max_items`` most-rated movies (position 0 never);
    every rated movie when there are fewer."""
    rated = np.flatnonzero(counts[1:] > 0) + 1
    if len(rated) <= max_items:
        return rated.astype(np.int64)
    order = np.argsort(-counts[rated], kind="stable")[:max_items]
    return np.sort(rated[order]).astype(np.int64)
