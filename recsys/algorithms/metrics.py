"""Rating and ranking metrics on DataFrames with explicit column arguments (as in Microsoft
Recommenders): RMSE, MAE, precision/recall/NDCG/hit rate at k, catalogue coverage."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from recsys.algorithms.columns import ITEM, PREDICTION, RANK, RATING, RELEVANT_RATING, USER


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


#: The cut-offs of Liang et al. (2018)'s tables: NDCG@100, Recall@20 and Recall@50.
LIANG_CUTOFFS = {"ndcg": (100,), "recall": (20, 50)}
#: How long a list those metrics read.
LIANG_DEPTH = max(k for ks in LIANG_CUTOFFS.values() for k in ks)


def liang_metrics(test: pd.DataFrame, recommendations: pd.DataFrame, col_user: str = USER,
                  col_item: str = ITEM, col_rank: str = RANK) -> dict[str, float]:
    """NDCG@100, Recall@20 and Recall@50 as Liang et al. (2018) define them, for every held-out
    movie relevant (their data is binarised): Recall@k divides the hits by ``min(k, relevant)``
    (so a perfect list scores 1 even for users with more than k movies to find), NDCG uses
    binary gains. Means over the users of ``test``."""
    rel_sets = test.groupby(col_user)[col_item].agg(set)
    depth = LIANG_DEPTH
    top = recommendations[recommendations[col_rank] <= depth].sort_values([col_user, col_rank])
    lists = top.groupby(col_user)[col_item].agg(list)
    discounts = 1.0 / np.log2(np.arange(2, depth + 2))
    out: dict[str, list[float]] = {f"{name}@{k}": [] for name, ks in LIANG_CUTOFFS.items()
                                   for k in ks}
    for user, rel in rel_sets.items():
        gains = np.array([1.0 if m in rel else 0.0 for m in lists.get(user, [])[:depth]])
        gains = np.pad(gains, (0, depth - len(gains)))
        for k in LIANG_CUTOFFS["ndcg"]:
            ideal = discounts[:min(len(rel), k)].sum()
            out[f"ndcg@{k}"].append(float((gains[:k] * discounts[:k]).sum() / ideal))
        for k in LIANG_CUTOFFS["recall"]:
            out[f"recall@{k}"].append(float(gains[:k].sum() / min(k, len(rel))))
    return {name: float(np.mean(values)) if values else math.nan
            for name, values in out.items()}
