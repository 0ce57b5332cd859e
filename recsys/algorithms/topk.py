"""Ranking helpers shared by the model, evaluation and batch prediction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")


def first_kept(fetch: Callable[[int], Sequence[T]], keep: Callable[[Sequence[T]], list[T]],
               wanted: int, limit: int | None = None) -> list[T]:
    """The first ``wanted`` items that ``keep`` keeps, from a source that gives its best
    ``n`` (``fetch(n)``): ask for ``wanted``, then four times as many each round until enough
    are kept, the source has no more, or ``limit`` is asked (e.g. a model or an index older
    than the database, whose answers may name movies that are gone)."""
    ask = wanted
    while True:
        got = fetch(ask)
        kept = keep(got)
        if len(kept) >= wanted or len(got) < ask or (limit is not None and ask >= limit):
            return kept[:wanted]
        ask = ask * 4 if limit is None else min(ask * 4, limit)


def top_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` largest values of each row, best first (ties keep column
    order). Works on one row (1-D) or many (2-D)."""
    matrix = np.atleast_2d(scores)
    kk = min(k, matrix.shape[1])
    part = np.argpartition(-matrix, kk - 1, axis=1)[:, :kk]
    order = np.argsort(-np.take_along_axis(matrix, part, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(part, order, axis=1)
    return top[0] if np.ndim(scores) == 1 else top


def standardise(matrix: np.ndarray) -> np.ndarray:
    """Each row to mean 0 and standard deviation 1 (constant rows to 0)."""
    mean = matrix.mean(axis=1, keepdims=True)
    std = matrix.std(axis=1, keepdims=True)
    return (matrix - mean) / np.where(std > 0, std, 1.0)


def mask_pairs(scores: np.ndarray, users: np.ndarray, pairs: pd.DataFrame,
               catalogue: np.ndarray) -> np.ndarray:
    """Set to -inf, in place, the score of every (user, movie) pair of ``pairs``.

    Args:
        scores: one row per user of ``users``, one column per movie of ``catalogue``.
        pairs: ``user_id`` and ``movie_id`` columns (other users and movies are ignored).
    """
    return PairIndex(pairs, catalogue).mask(scores, users)


class PairIndex:
    """(user, movie) pairs sorted by user once, so that masking many batches of users costs
    a binary search per batch instead of a pass over every pair (25 million at scale)."""

    def __init__(self, pairs: pd.DataFrame, catalogue: np.ndarray) -> None:
        users = pairs["user_id"].to_numpy(np.int64)
        order = np.argsort(users, kind="stable")
        self.users = users[order]
        position = pd.Series(np.arange(len(catalogue)), index=catalogue)
        columns = position.reindex(pairs["movie_id"].to_numpy()[order]).to_numpy()
        known = ~np.isnan(columns)  # movies outside the catalogue have no column to mask
        self.users, self.columns = self.users[known], columns[known].astype(np.int64)

    def mask(self, scores: np.ndarray, users: np.ndarray) -> np.ndarray:
        """Set to -inf, in place, the pairs of ``users`` (the rows of ``scores``)."""
        users = np.asarray(users, dtype=np.int64)
        start = np.searchsorted(self.users, users, "left")
        counts = np.searchsorted(self.users, users, "right") - start
        if counts.sum() == 0:
            return scores
        rows = np.repeat(np.arange(len(users)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        scores[rows, self.columns[np.repeat(start, counts) + offsets]] = -np.inf
        return scores
