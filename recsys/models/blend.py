"""The rating blend: different models combined by a linear blend fitted on held-out ratings.

Averaging near-identical networks gains little; combining models that err differently gains
more (the Netflix Prize lesson). Around the hybrid networks' prediction this adds:

- **KNN-baseline**: regularised user and movie biases plus an item-item neighbourhood model
  on their residuals (shrunk Pearson similarity over co-rating users, the ``neighbours`` most
  similar movies the user rated; Koren, 2008);
- **KNN on the networks' residuals**: the same neighbourhood over what the networks got wrong
  on the user's training ratings;
- **day effects** (timeSVD++'s user-day bias, Koren, 2009): the shrunk mean residual of the
  user's ratings on the same day, from both models. They apply when the rating's date is
  known (an evaluation's test ratings); a prediction "for now" has no such day and gets 0;
- **item-based AutoRec** (:mod:`recsys.models.autorec`), a non-linear movie-side model;
- support: log counts of the user's and the movie's ratings, and their products with the
  predictions (how much to trust each model depends on how much data it had).

The networks are trained on the training ratings minus the validation slice; every component
here is fitted on the same part, and the blend weights (ridge regression) on the slice, which
no component has seen. Serving stays a lookup: everything but the day terms is folded into a
dense users x movies correction added to the networks' prediction (only built while that
matrix is small, see :data:`recsys.models.config.BLEND_MAX_RATINGS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.algorithms.biases import biases

#: The blend's inputs, in weight order: these, then one per further model (``others`` of
#: :func:`fit`), then :data:`DAY_FEATURES` (last: they are 0 without a date).
FEATURES = ("hybrid", "knn_baseline", "knn_residual", "log_user_count", "log_movie_count",
            "hybrid_x_user_count", "hybrid_x_movie_count", "knn_baseline_x_movie_count")
DAY_FEATURES = ("day_hybrid", "day_baseline")
SECONDS_PER_DAY = 86_400
#: Shrinkage of similarities by the number of co-rating users, n / (n + SHRINK).
SHRINK = 100.0
#: Shrinkage of a user-day mean residual, sum / (count + DAY_SHRINK).
DAY_SHRINK = 5.0
#: Ridge penalty of the blend's weights (the intercept is not penalised).
BLEND_L2 = 1.0


def similarity(u: np.ndarray, m: np.ndarray, residual: np.ndarray, n_users: int,
               n_movies: int, shrink: float = SHRINK) -> np.ndarray:
    """Movies x movies shrunk Pearson-style similarity of residuals (zero diagonal)."""
    z = np.zeros((n_users, n_movies))
    seen = np.zeros((n_users, n_movies))
    z[u, m] = residual
    seen[u, m] = 1.0
    squares = (z ** 2).T @ seen  # [i, j]: sum of i's squared residuals over users of both
    together = seen.T @ seen
    sim = (z.T @ z) / (np.sqrt(squares * squares.T) + 1e-9) * (together / (together + shrink))
    np.fill_diagonal(sim, 0.0)
    return sim.astype(np.float32)


def neighbourhood(sim: np.ndarray, u: np.ndarray, m: np.ndarray, residual: np.ndarray,
                  query_users: np.ndarray, query_movies: np.ndarray | None,
                  neighbours: int) -> np.ndarray:
    """For each query, the similarity-weighted mean residual of the ``neighbours`` most
    similar movies the user rated (positive similarities only; 0 without any).

    ``query_movies`` None scores every movie (all columns of ``sim``) for each of
    ``query_users`` and returns a matrix; otherwise one value per (user, movie) pair.
    """
    by_user = np.argsort(u, kind="stable")
    n_users = int(max(u.max(initial=0), np.max(query_users, initial=0))) + 1
    bounds = np.searchsorted(u[by_user], np.arange(n_users + 1))
    if query_movies is None:
        out: np.ndarray = np.zeros((len(query_users), sim.shape[0]), np.float32)
        groups = [np.array([row]) for row in range(len(query_users))]
    else:
        out = np.zeros(len(query_users), np.float32)
        order = np.argsort(query_users, kind="stable")
        cuts = np.flatnonzero(np.diff(query_users[order]) != 0) + 1
        groups = np.split(order, cuts) if len(order) else []
    for queries in groups:
        user = int(query_users[queries[0]])
        rows = by_user[bounds[user]:bounds[user + 1]]
        if len(rows) == 0:
            continue
        s = np.maximum(sim[:, m[rows]] if query_movies is None
                       else sim[query_movies[queries]][:, m[rows]], 0.0)
        if s.shape[1] > neighbours:  # keep each row's `neighbours` largest (ties: all)
            kth = -np.partition(-s, neighbours - 1, axis=1)[:, neighbours - 1:neighbours]
            s = np.where(s >= kth, s, 0.0)
        estimate = (s @ residual[rows]) / (s.sum(1) + 1e-9)
        if query_movies is None:
            out[queries[0]] = estimate
        else:
            out[queries] = estimate
    return out


def days(timestamps: pd.Series | np.ndarray) -> np.ndarray:
    """Whole days since the epoch of datetime values."""
    values = pd.to_datetime(pd.Series(np.asarray(timestamps))).to_numpy("datetime64[s]")
    return values.astype(np.int64) // SECONDS_PER_DAY


@dataclass(frozen=True)
class DayTable:
    """Shrunk mean residual per (user position, day), sorted by key for binary search."""

    keys: np.ndarray
    values: np.ndarray  # one column per day feature

    @classmethod
    def fit(cls, u: np.ndarray, day: np.ndarray, residuals: list[np.ndarray]) -> DayTable:
        key = u.astype(np.int64) * 1_000_000 + day
        unique, inverse = np.unique(key, return_inverse=True)
        counts = np.bincount(inverse, minlength=len(unique))
        values = np.stack([np.bincount(inverse, res, len(unique)) / (counts + DAY_SHRINK)
                           for res in residuals], axis=1)
        return cls(unique, values.astype(np.float32))

    def lookup(self, u: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The table's values for each (user, day); 0 where the user rated nothing that day."""
        key = u.astype(np.int64) * 1_000_000 + day
        if len(self.keys) == 0:
            return np.zeros((len(key), self.values.shape[1]))
        at = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        return np.where((self.keys[at] == key)[:, None], self.values[at], 0.0)


@dataclass(frozen=True)
class Blend:
    """A fitted blend: a correction to add to the networks' prediction.

    Attributes:
        correction: users x movies (positions) blend minus network prediction, without the
            day terms (row and column 0, the unknown user and movie: 0).
        days: the user-day residual table.
        day_weights: the blend's weights of the day features.
        weights: every weight (intercept, :data:`FEATURES`, further models, day features),
            for the record.
    """

    correction: np.ndarray
    days: DayTable
    day_weights: np.ndarray
    weights: np.ndarray

    def adjust(self, base: np.ndarray, u: np.ndarray, m: np.ndarray,
               day: np.ndarray | None = None) -> np.ndarray:
        """Blended predictions of (user, movie) pairs from the networks' ``base``."""
        out = base + self.correction[u, m]
        if day is not None:
            out = out + self.days.lookup(u, day) @ self.day_weights
        return out


def _inputs(hybrid: np.ndarray, knn_baseline: np.ndarray, knn_residual: np.ndarray,
            log_user: np.ndarray, log_movie: np.ndarray) -> list[np.ndarray]:
    """The blend's own inputs, in :data:`FEATURES` order (pairs or matrices: they
    broadcast)."""
    return [hybrid, knn_baseline, knn_residual, log_user, log_movie, hybrid * log_user,
            hybrid * log_movie, knn_baseline * log_movie]


@dataclass(frozen=True)
class Baseline:
    """The blend's half that reads only the ratings: the KNN-baseline (biases plus the
    neighbourhood of their residuals), fitted on the ratings outside the validation slice.
    It needs nothing from the networks, so it can be fitted while they train.

    Attributes:
        residual: each fitting rating's residual from the biases.
        at_validation: the KNN-baseline's prediction of each validation rating.
        every: users x movies (positions) KNN-baseline prediction.
    """

    residual: np.ndarray
    at_validation: np.ndarray
    every: np.ndarray

    @classmethod
    def fit(cls, u: np.ndarray, m: np.ndarray, r: np.ndarray, is_val: np.ndarray,
            neighbours: int, n_users: int, n_movies: int) -> Baseline:
        """Fit on the ratings outside ``is_val`` (positions ``u``, ``m``; ratings ``r``)."""
        fit_part = ~is_val
        fu, fm, fr = u[fit_part], m[fit_part], r[fit_part].astype(np.float64)
        mean, bu, bm = biases(fu, fm, fr, n_users, n_movies)
        residual = fr - (mean + bu[fu] + bm[fm])
        sim = similarity(fu, fm, residual, n_users, n_movies)
        vu, vm = u[is_val], m[is_val]
        at_validation = mean + bu[vu] + bm[vm] + neighbourhood(sim, fu, fm, residual, vu, vm,
                                                               neighbours)
        every = (mean + bu[:, None] + bm[None, :] + neighbourhood(
            sim, fu, fm, residual, np.arange(n_users), None, neighbours))
        return cls(residual, at_validation, every)


def fit(u: np.ndarray, m: np.ndarray, r: np.ndarray, day: np.ndarray | None,
        is_val: np.ndarray, predict: np.ndarray, full: np.ndarray, neighbours: int,
        n_users: int, n_movies: int, others: tuple[np.ndarray, ...] = (),
        baseline: Baseline | None = None) -> Blend:
    """Fit the blend.

    Args:
        u, m, r, day: positions, ratings and days (None: no dates) of the training ratings.
        is_val: the validation slice (blend weights are fitted on it, components on the rest).
        predict: the networks' predictions of every training rating.
        full: the networks' predictions of every (user, movie) position pair.
        neighbours: how many similar movies the neighbourhood models read.
        others: further models' predictions of every (user, movie) position pair, fitted on
            the same part (e.g. :mod:`recsys.models.autorec`); one blend input each.
        baseline: the KNN-baseline of these ratings, when already fitted
            (:meth:`Baseline.fit`; None: fitted here).
    """
    if baseline is None:
        baseline = Baseline.fit(u, m, r, is_val, neighbours, n_users, n_movies)
    fit_part = ~is_val
    fu, fm, fr = u[fit_part], m[fit_part], r[fit_part].astype(np.float64)
    net_residual = fr - predict[fit_part]
    sim = similarity(fu, fm, net_residual, n_users, n_movies)
    log_user = np.log1p(np.bincount(fu, minlength=n_users)).astype(np.float32)
    log_movie = np.log1p(np.bincount(fm, minlength=n_movies)).astype(np.float32)

    vu, vm = u[is_val], m[is_val]
    knn_r = neighbourhood(sim, fu, fm, net_residual, vu, vm, neighbours)
    columns = _inputs(predict[is_val], baseline.at_validation, knn_r, log_user[vu],
                      log_movie[vm])
    columns += [other[vu, vm] for other in others]
    table = (DayTable.fit(fu, day[fit_part], [net_residual, baseline.residual])
             if day is not None
             else DayTable(np.zeros(0, np.int64), np.zeros((0, 2), np.float32)))
    day_columns = (table.lookup(vu, day[is_val]) if day is not None
                   else np.zeros((len(vu), 2)))
    x = np.column_stack([*columns, day_columns])
    weights = ridge(x, r[is_val].astype(np.float64), BLEND_L2)

    knn_r_all = neighbourhood(sim, fu, fm, net_residual, np.arange(n_users), None, neighbours)
    parts = _inputs(full, baseline.every, knn_r_all, log_user[:, None], log_movie[None, :])
    parts += list(others)
    blended = weights[0] + sum(w * p for w, p in zip(weights[1:], parts))
    correction = (blended - full).astype(np.float32)
    correction[0, :] = 0.0
    correction[:, 0] = 0.0
    return Blend(correction, table, weights[-len(DAY_FEATURES):].astype(np.float32),
                 weights.astype(np.float32))


def ridge(x: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    """Ridge regression weights (intercept first, not penalised)."""
    design = np.column_stack([np.ones(len(x)), x])
    gram = design.T @ design + l2 * np.eye(design.shape[1])
    gram[0, 0] -= l2
    return np.linalg.solve(gram, design.T @ y)
