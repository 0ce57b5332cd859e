"""Running an evaluation: every scorer fitted and measured on the same splits.

Protocol (used by ``recsys evaluate`` and ``bench/model.py``):

- rating metrics (RMSE, MAE) on every held-out rating;
- ranking metrics at k (precision, recall, NDCG, hit rate) per test user, where the relevant
  movies are the user's held-out ratings >= 4 and the candidates are all movies the user has
  not rated in the training part; averaged over users with at least one relevant movie;
- catalogue coverage: share of all movies that appear in someone's top k.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys.algorithms.columns import (
    ITEM,
    PREDICTION,
    RANK,
    RATED_AT,
    RATING,
    RELEVANT_RATING,
    USER,
)
from recsys.algorithms.metrics import (
    LIANG_DEPTH,
    coverage,
    liang_metrics,
    mae,
    ranking_metrics,
    rmse,
)
from recsys.algorithms.topk import PairIndex, top_columns
from recsys.datasets.tables import Dataset
from recsys.display.progress import Progress, reporter
from recsys.evaluation.baselines import Scorer
from recsys.evaluation.beside import start as start_beside


def top_k(scorer: Scorer, train: pd.DataFrame, user_ids: np.ndarray, k: int,
          batch: int = 512) -> pd.DataFrame:
    """Top-``k`` movies per user among the movies the user has not rated in ``train``."""
    catalogue = scorer.movie_ids
    seen = PairIndex(train[train[USER].isin(user_ids)], catalogue)  # sorted once
    frames = []
    for start in range(0, len(user_ids), batch):
        users = np.asarray(user_ids[start:start + batch])
        scores = scorer.score_items(users)
        if scores is None:
            return pd.DataFrame(columns=[USER, ITEM, RANK])
        scores = seen.mask(np.array(scores, dtype=np.float64, copy=True), users)
        order = top_columns(scores, k)
        kk = order.shape[1]
        frames.append(pd.DataFrame({
            USER: np.repeat(users, kk), ITEM: catalogue[order.ravel()],
            RANK: np.tile(np.arange(1, kk + 1), len(users))}))
    return pd.concat(frames, ignore_index=True)


def rating_dates(test: pd.DataFrame) -> pd.Series | None:
    """The test ratings' dates when every one has one (a model may use the day a rating
    was given, as timeSVD++ does), else None."""
    if RATED_AT in test.columns and bool(test[RATED_AT].notna().all()):
        return test[RATED_AT]
    return None


#: Ranking metrics are averaged over at most this many test users (a seeded sample above it:
#: every user of MovieLens 100K and 1M; 10,000 of ML-25M's 162,000 keep the standard error of
#: NDCG@10 near 0.003 while scoring 62,000 movies per user stays within minutes).
MAX_RANKING_USERS = 10_000


def evaluate(scorer: Scorer, train: pd.DataFrame, test: pd.DataFrame, data: Dataset,
             k: int = 10, fit: bool = True,
             max_users: int | None = MAX_RANKING_USERS) -> dict[str, float]:
    """Fit (unless ``fit`` is False) and measure one scorer on one split (ranking metrics
    on a seeded sample of ``max_users`` test users when there are more)."""
    start = time.perf_counter()
    if fit:
        scorer.fit(train, data)
    fit_seconds = time.perf_counter() - start
    out: dict[str, float] = {"fit_seconds": fit_seconds}
    predicted = scorer.predict(test[USER].to_numpy(), test[ITEM].to_numpy(),
                               at=rating_dates(test))
    if predicted is None:
        out.update({"rmse": math.nan, "mae": math.nan})
    else:
        pred = test[[USER, ITEM]].assign(**{PREDICTION: np.asarray(predicted, dtype=float)})
        out.update({"rmse": rmse(test, pred), "mae": mae(test, pred)})
    users = np.sort(test.loc[test[RATING] >= RELEVANT_RATING, USER].unique())
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(0).choice(users, max_users, replace=False))
        test = test[test[USER].isin(users)]
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
            splits: Iterable[tuple[pd.DataFrame, pd.DataFrame]], data: Dataset,
            k: int = 10, progress: Progress = True,
            on_fit: Callable[[str, int, Scorer, pd.DataFrame, pd.DataFrame], None] | None = None,
            beside: Collection[str] = ()) -> Comparison:
    """Evaluate fresh scorers from each factory on each split.

    Args:
        on_fit: called with (name, fold, fitted scorer, train, test) after each evaluation,
            e.g. to keep the model's predictions (not for the scorers fitted ``beside``).
        beside: scorers fitted in a second process while this one fits the others
            (:mod:`recsys.evaluation.beside`); their factories must be picklable.
    """
    report = reporter(progress)
    folds = list(splits)
    rows: list[dict[str, Any]] = []
    for fold, (train, test) in enumerate(folds):
        apart = {name: f for name, f in factories.items() if name in beside}
        wait = start_beside(measure_all, apart, train, test, data, k) if apart else None
        measured: dict[str, dict[str, float]] = {}
        for name, factory in factories.items():
            if name in apart:
                continue
            scorer = factory()
            measured[name] = evaluate(scorer, train, test, data, k)
            _say(report, fold, len(folds), name, measured[name], k)
            if on_fit is not None:
                on_fit(name, fold, scorer, train, test)
        for name, metrics in wait() if wait is not None else ():
            measured[name] = metrics
            _say(report, fold, len(folds), name, metrics, k)
        rows.extend({"model": name, "fold": fold, **measured[name]} for name in factories)
    return Comparison(pd.DataFrame(rows))


def measure_all(factories: dict[str, Callable[[], Scorer]], train: pd.DataFrame,
                test: pd.DataFrame, data: Dataset, k: int) -> list[tuple[str, dict[str, float]]]:
    """Fit and measure each scorer (what a second process runs for :func:`compare`)."""
    return [(name, evaluate(factory(), train, test, data, k))
            for name, factory in factories.items()]


def _say(report: Callable[[str], None] | None, fold: int, folds: int, name: str,
         metrics: dict[str, float], k: int) -> None:
    if report is None:
        return
    where = f"fold {fold}" if folds > 1 else "holdout"
    shown = [f"{key}={value:.4f}" for key, value in
             (("rmse", metrics["rmse"]), (f"ndcg@{k}", metrics[f"ndcg@{k}"]))
             if value == value]  # NaN: the scorer does not predict that
    report(f"{where} {name:<12} {' '.join(shown)} ({metrics['fit_seconds']:.1f} s)")


def evaluate_heldout_users(scorer: Scorer, train: pd.DataFrame, test: pd.DataFrame,
                           data: Dataset, fit: bool = True) -> dict[str, float]:
    """Fit (unless ``fit`` is False) and measure one scorer on a strong-generalisation split
    (:func:`recsys.evaluation.splits.strong_generalisation`): Liang et al.'s NDCG@100,
    Recall@20 and Recall@50 over the held-out users, with this project's NDCG@10 and
    coverage@10 beside them."""
    start = time.perf_counter()
    if fit:
        scorer.fit(train, data)
    out: dict[str, float] = {"fit_seconds": time.perf_counter() - start}
    users = np.sort(test[USER].unique())
    recs = top_k(scorer, train, users, LIANG_DEPTH)
    out.update(ranking_metrics(test, recs, 10))
    out.update(liang_metrics(test, recs))
    out["coverage"] = coverage(recs, len(scorer.movie_ids), 10)
    return out
