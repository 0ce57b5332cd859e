"""Splits, metrics and baselines, so the model is always judged against them in the same run.

- :mod:`.splits`: random, per-user and k-fold splits, held-out users (strong
  generalisation), explicit pairs;
- :mod:`.metrics`: RMSE, MAE, precision/recall/NDCG/hit rate at k, coverage;
- :mod:`.baselines`: the :class:`Scorer` interface and the baselines;
- :mod:`.protocol`: fitting every scorer on the same splits and measuring it.
"""

from recsys.algorithms.columns import ITEM, PREDICTION, RANK, RATING, RELEVANT_RATING, USER
from recsys.algorithms.metrics import coverage, mae, ranking_metrics, rmse
from recsys.evaluation.baselines import EASE, Biases, GlobalMean, Popularity, Scorer
from recsys.evaluation.protocol import (
    Comparison,
    compare,
    evaluate,
    evaluate_heldout_users,
    rating_dates,
    top_k,
)
from recsys.evaluation.splits import (
    explicit_pair,
    kfold,
    per_user_holdout,
    random_holdout,
    strong_generalisation,
)

__all__ = ["EASE", "ITEM", "PREDICTION", "RANK", "RATING", "RELEVANT_RATING", "USER",
           "Biases", "Comparison", "GlobalMean", "Popularity", "Scorer", "compare",
           "coverage", "evaluate", "evaluate_heldout_users", "explicit_pair", "kfold", "mae",
           "per_user_holdout", "random_holdout", "rating_dates", "ranking_metrics", "rmse",
           "strong_generalisation", "top_k"]
