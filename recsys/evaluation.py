"""Splits, metrics and baselines, so the model is always judged against them in the same run.

Protocol (used by ``recsys evaluate`` and ``bench/model.py``):

- rating metrics (RMSE, MAE) on every held-out rating;
- ranking metrics at k (precision, recall, NDCG, hit rate) per test user, where the relevant
  movies are the user's held-out ratings >= 4 and the candidates are all movies the user has
  not rated in the training part; averaged over users with at least one relevant movie;
- catalogue coverage: share of all movies that appear in someone's top k.

Every scorer follows one small interface (:class:`Scorer`): ``fit(train, data)``,
``predict(user_ids, movie_ids)`` (rating scale, or ``None`` when the scorer predicts no
ratings) and ``score_items(user_ids)`` (a score per catalogue movie, higher is better). Metric
functions take DataFrames with explicit column arguments, as in Microsoft Recommenders.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

import numpy as np
import pandas as pd

from recsys.datasets import Dataset
from recsys.errors import UsageError
from recsys.progress import Progress, reporter

USER, ITEM, RATING, PREDICTION, RANK = "user_id", "movie_id", "rating", "predicted", "rank"
RELEVANT_RATING = 4


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------


def random_holdout(scores: pd.DataFrame, test_fraction: float = 0.2,
                   seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out a random ``test_fraction`` of all ratings."""
    rng = np.random.default_rng(seed)
    test_mask = rng.random(len(scores)) < test_fraction
    return scores[~test_mask].reset_index(drop=True), scores[test_mask].reset_index(drop=True)


def per_user_holdout(scores: pd.DataFrame, test_fraction: float = 0.2,
                     seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out ``test_fraction`` of each user's ratings (at least one stays in training)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(scores))
    shuffled = scores.iloc[order]
    position = shuffled.groupby(USER).cumcount().to_numpy()
    sizes = shuffled.groupby(USER)[USER].transform("size").to_numpy()
    n_test = np.minimum(np.floor(sizes * test_fraction), sizes - 1)
    test_mask = position < n_test
    return (shuffled[~test_mask].sort_index().reset_index(drop=True),
            shuffled[test_mask].sort_index().reset_index(drop=True))


def kfold(scores: pd.DataFrame, k: int = 5,
          seed: int = 42) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """K random folds of the ratings: yields (train, test) k times, each rating tested once."""
    if k < 2:
        raise UsageError(f"k-fold needs k >= 2, got {k}")
    folds = np.random.default_rng(seed).permutation(len(scores)) % k
    for fold in range(k):
        yield (scores[folds != fold].reset_index(drop=True),
               scores[folds == fold].reset_index(drop=True))


def explicit_pair(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check an explicit train/test pair: required columns, ratings 1..5, no shared pair."""
    for name, frame in (("train", train), ("test", test)):
        missing = [c for c in (USER, ITEM, RATING) if c not in frame.columns]
        if missing:
            raise UsageError(f"{name} lacks column(s) {missing}")
        bad = ~frame[RATING].between(1, 5)
        if bad.any():
            raise UsageError(f"{name} has {int(bad.sum())} rating(s) outside 1..5")
    shared = train[[USER, ITEM]].merge(test[[USER, ITEM]], on=[USER, ITEM])
    if len(shared):
        raise UsageError(f"{len(shared)} (user, movie) pair(s) are in both train and test, "
                         f"e.g. {tuple(shared.iloc[0])}")
    return train.reset_index(drop=True), test.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def rmse(true: pd.DataFrame, pred: pd.DataFrame, col_user: str = USER, col_item: str = ITEM,
         col_rating: str = RATING, col_prediction: str = PREDICTION) -> float:
    """Root mean squared error over the (user, item) pairs in both frames."""
    both = true.merge(pred, on=[col_user, col_item])
    return float(np.sqrt(np.mean((both[col_rating] - both[col_prediction]) ** 2)))


def mae(true: pd.DataFrame, pred: pd.DataFrame, col_user: str = USER, col_item: str = ITEM,
        col_rating: str = RATING, col_prediction: str = PREDICTION) -> float:
    """Mean absolute error over the (user, item) pairs in both frames."""
    both = true.merge(pred, on=[col_user, col_item])
    return float(np.mean(np.abs(both[col_rating] - both[col_prediction])))


def ranking_metrics(test: pd.DataFrame, recommendations: pd.DataFrame, k: int = 10,
                    col_user: str = USER, col_item: str = ITEM, col_rating: str = RATING,
                    col_rank: str = RANK, threshold: float = RELEVANT_RATING
                    ) -> dict[str, float]:
    """Precision, recall, NDCG (binary gains) and hit rate at ``k``.

    Args:
        test: held-out ratings; those >= ``threshold`` are the relevant movies.
        recommendations: ``col_user, col_item, col_rank`` (rank 1 is the best).
        k: cut-off.

    Returns:
        Means over users with at least one relevant held-out movie (users without
        recommendations count as zero).
    """
    relevant = test[test[col_rating] >= threshold]
    rel_sets = relevant.groupby(col_user)[col_item].agg(set)
    top = recommendations[recommendations[col_rank] <= k].sort_values([col_user, col_rank])
    lists = top.groupby(col_user)[col_item].agg(list)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    precision, recall, ndcg, hits = [], [], [], []
    for user, rel in rel_sets.items():
        recs = lists.get(user, [])
        gains = np.array([1.0 if m in rel else 0.0 for m in recs[:k]])
        n_hit = gains.sum()
        precision.append(n_hit / k)
        recall.append(n_hit / len(rel))
        dcg = float((gains * discounts[:len(gains)]).sum())
        idcg = float(discounts[:min(len(rel), k)].sum())
        ndcg.append(dcg / idcg)
        hits.append(float(n_hit > 0))
    return {f"precision@{k}": float(np.mean(precision)), f"recall@{k}": float(np.mean(recall)),
            f"ndcg@{k}": float(np.mean(ndcg)), f"hit_rate@{k}": float(np.mean(hits))}


def coverage(recommendations: pd.DataFrame, n_items: int, k: int = 10,
             col_item: str = ITEM, col_rank: str = RANK) -> float:
    """Share of the catalogue that appears in at least one top-``k`` list."""
    top = recommendations[recommendations[col_rank] <= k]
    return float(top[col_item].nunique() / n_items) if n_items else math.nan


# --------------------------------------------------------------------------------------------
# Scorers
# --------------------------------------------------------------------------------------------


class Scorer(Protocol):
    """What evaluation needs from a model or baseline."""

    name: str

    def fit(self, train: pd.DataFrame, data: Dataset) -> "Scorer": ...

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray) -> np.ndarray | None: ...

    def score_items(self, user_ids: np.ndarray) -> np.ndarray | None: ...

    @property
    def movie_ids(self) -> np.ndarray: ...


class _Indexed:
    """Dense indices for users and movies of the catalogue (all movies in ``data``)."""

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

    def interactions(self, train: pd.DataFrame) -> np.ndarray:
        """Dense 0/1 user x movie matrix of the training ratings."""
        matrix = np.zeros((len(self._user_ids), len(self._movie_ids)), dtype=np.float32)
        matrix[self._pos(self.user_pos, train[USER]), self._pos(self.movie_pos, train[ITEM])] = 1
        return matrix


class GlobalMean(_Indexed):
    """Predicts the mean training rating for everything; ranks nothing."""

    name = "global_mean"

    def fit(self, train: pd.DataFrame, data: Dataset) -> "GlobalMean":
        self._index(train, data)
        self.mean = float(train[RATING].mean())
        return self

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray) -> np.ndarray:
        return np.full(len(user_ids), self.mean)

    def score_items(self, user_ids: np.ndarray) -> None:
        return None


class Biases(_Indexed):
    """Regularised user and item biases around the global mean (alternating least squares).

    Ranking uses the item bias (the same top list for everyone, minus what they have seen).
    """

    name = "biases"

    def __init__(self, reg_user: float = 5.0, reg_item: float = 5.0, iterations: int = 10):
        self.reg_user, self.reg_item, self.iterations = reg_user, reg_item, iterations

    def fit(self, train: pd.DataFrame, data: Dataset) -> "Biases":
        self._index(train, data)
        u = self._pos(self.user_pos, train[USER])
        i = self._pos(self.movie_pos, train[ITEM])
        r = train[RATING].to_numpy(dtype=np.float64)
        self.mean = float(r.mean())
        self.bu = np.zeros(len(self._user_ids))
        self.bi = np.zeros(len(self._movie_ids))
        n_u = np.bincount(u, minlength=len(self.bu))
        n_i = np.bincount(i, minlength=len(self.bi))
        for _ in range(self.iterations):
            self.bi = np.bincount(i, r - self.mean - self.bu[u], len(self.bi)) / (
                n_i + self.reg_item)
            self.bu = np.bincount(u, r - self.mean - self.bi[i], len(self.bu)) / (
                n_u + self.reg_user)
        return self

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray) -> np.ndarray:
        u = self._pos(self.user_pos, user_ids)
        i = self._pos(self.movie_pos, movie_ids)
        bu = np.where(u >= 0, self.bu[np.maximum(u, 0)], 0.0)
        bi = np.where(i >= 0, self.bi[np.maximum(i, 0)], 0.0)
        return np.clip(self.mean + bu + bi, 1.0, 5.0)

    def score_items(self, user_ids: np.ndarray) -> np.ndarray:
        return np.tile(self.bi, (len(user_ids), 1))


class Popularity(_Indexed):
    """Ranks movies by how many training ratings they have; predicts no ratings."""

    name = "popularity"

    def fit(self, train: pd.DataFrame, data: Dataset) -> "Popularity":
        self._index(train, data)
        counts = train.groupby(ITEM).size()
        self.counts = counts.reindex(self._movie_ids, fill_value=0).to_numpy(dtype=np.float64)
        return self

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray) -> None:
        return None

    def score_items(self, user_ids: np.ndarray) -> np.ndarray:
        return np.tile(self.counts, (len(user_ids), 1))


class EASE(_Indexed):
    """EASE (Steck, 2019): a closed-form item-item model on who-watched-what.

    B = I - P / diag(P) with P = (X'X + lambda I)^-1, zero diagonal; a user's scores are X_u B.
    """

    name = "ease"

    def __init__(self, l2: float = 500.0):
        self.l2 = l2

    def fit(self, train: pd.DataFrame, data: Dataset) -> "EASE":
        self._index(train, data)
        self.X = self.interactions(train)
        self.B = ease_weights(self.X, self.l2)
        return self

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray) -> None:
        return None

    def score_items(self, user_ids: np.ndarray) -> np.ndarray:
        u = self._pos(self.user_pos, user_ids)
        rows = np.where(u[:, None] >= 0, self.X[np.maximum(u, 0)], 0.0)
        return rows @ self.B


def ease_weights(X: np.ndarray, l2: float) -> np.ndarray:
    """The EASE item-item weight matrix for a 0/1 user x item matrix ``X``."""
    gram = (X.T @ X).astype(np.float64)
    gram[np.diag_indices_from(gram)] += l2
    P = np.linalg.inv(gram)
    B = -P / np.diag(P)
    B[np.diag_indices_from(B)] = 0.0
    return B.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Running an evaluation
# --------------------------------------------------------------------------------------------


def top_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` largest values of each row, best first (ties keep column
    order). Works on one row (1-D) or many (2-D)."""
    matrix = np.atleast_2d(scores)
    kk = min(k, matrix.shape[1])
    part = np.argpartition(-matrix, kk - 1, axis=1)[:, :kk]
    order = np.argsort(-np.take_along_axis(matrix, part, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(part, order, axis=1)
    return top[0] if np.ndim(scores) == 1 else top


def mask_seen(scores: np.ndarray, users: np.ndarray, seen: pd.DataFrame,
              catalogue: np.ndarray) -> np.ndarray:
    """Set to -inf, in place, the score of every (user, movie) pair of ``seen``.

    Args:
        scores: one row per user of ``users``, one column per movie of ``catalogue``.
        seen: pairs with ``user_id`` and ``movie_id`` columns (other users/movies ignored).
    """
    position = pd.Series(np.arange(len(catalogue)), index=catalogue)
    row_of = pd.Series(np.arange(len(users)), index=users)
    mine = seen[seen[USER].isin(users)]
    cols = position.reindex(mine[ITEM]).to_numpy()
    ok = ~np.isnan(cols)
    scores[row_of[mine[USER]].to_numpy()[ok], cols[ok].astype(np.int64)] = -np.inf
    return scores


def top_k(scorer: Scorer, train: pd.DataFrame, user_ids: np.ndarray, k: int,
          batch: int = 512) -> pd.DataFrame:
    """Top-``k`` movies per user among the movies the user has not rated in ``train``."""
    catalogue = scorer.movie_ids
    seen = train[train[USER].isin(user_ids)]
    frames = []
    for start in range(0, len(user_ids), batch):
        users = np.asarray(user_ids[start:start + batch])
        scores = scorer.score_items(users)
        if scores is None:
            return pd.DataFrame(columns=[USER, ITEM, RANK])
        scores = mask_seen(np.array(scores, dtype=np.float64, copy=True), users, seen,
                           catalogue)
        order = top_columns(scores, k)
        kk = order.shape[1]
        frames.append(pd.DataFrame({
            USER: np.repeat(users, kk), ITEM: catalogue[order.ravel()],
            RANK: np.tile(np.arange(1, kk + 1), len(users))}))
    return pd.concat(frames, ignore_index=True)


def evaluate(scorer: Scorer, train: pd.DataFrame, test: pd.DataFrame, data: Dataset,
             k: int = 10, fit: bool = True) -> dict[str, float]:
    """Fit (unless ``fit`` is False) and measure one scorer on one split."""
    start = time.perf_counter()
    if fit:
        scorer.fit(train, data)
    fit_seconds = time.perf_counter() - start
    out: dict[str, float] = {"fit_seconds": fit_seconds}
    predicted = scorer.predict(test[USER].to_numpy(), test[ITEM].to_numpy())
    if predicted is None:
        out.update({"rmse": math.nan, "mae": math.nan})
    else:
        pred = test[[USER, ITEM]].assign(**{PREDICTION: np.asarray(predicted, dtype=float)})
        out.update({"rmse": rmse(test, pred), "mae": mae(test, pred)})
    users = np.sort(test.loc[test[RATING] >= RELEVANT_RATING, USER].unique())
    recs = top_k(scorer, train, users, k)
    if recs.empty:
        out.update({f"{m}@{k}": math.nan for m in ("precision", "recall", "ndcg", "hit_rate")})
        out["coverage"] = math.nan
    else:
        out.update(ranking_metrics(test, recs, k))
        out["coverage"] = coverage(recs, len(scorer.movie_ids), k)
    return out


@dataclass
class Comparison:
    """Per-fold metrics of several scorers and their means."""

    per_fold: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        """Mean of each metric per scorer (and the standard deviation of RMSE and NDCG)."""
        numeric = self.per_fold.drop(columns=["fold"])
        mean = numeric.groupby("model", sort=False).mean()
        std = numeric.groupby("model", sort=False).std()
        for col in [c for c in mean.columns if c == "rmse" or c.startswith("ndcg")]:
            mean[f"{col}_std"] = std[col]
        return mean


def compare(factories: dict[str, Callable[[], Scorer]],
            splits: Iterator[tuple[pd.DataFrame, pd.DataFrame]], data: Dataset,
            k: int = 10, progress: Progress = True,
            on_fit: Callable[[str, int, Scorer, pd.DataFrame, pd.DataFrame], None] | None = None
            ) -> Comparison:
    """Evaluate fresh scorers from each factory on each split.

    Args:
        on_fit: called with (name, fold, fitted scorer, train, test) after each evaluation,
            e.g. to keep the model's predictions.
    """
    report = reporter(progress)
    splits = list(splits)
    rows = []
    for fold, (train, test) in enumerate(splits):
        for name, factory in factories.items():
            scorer = factory()
            metrics = evaluate(scorer, train, test, data, k)
            rows.append({"model": name, "fold": fold, **metrics})
            if report is not None:
                where = f"fold {fold}" if len(splits) > 1 else "holdout"
                shown = [f"{key}={value:.4f}" for key, value in
                         (("rmse", metrics["rmse"]), (f"ndcg@{k}", metrics[f"ndcg@{k}"]))
                         if value == value]  # NaN: the scorer does not predict that
                report(f"{where} {name:<12} {' '.join(shown)} ({metrics['fit_seconds']:.1f} s)")
            if on_fit is not None:
                on_fit(name, fold, scorer, train, test)
    return Comparison(pd.DataFrame(rows))
