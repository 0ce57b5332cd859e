"""The evaluation: splits, metrics by hand, top-k without training movies, the baselines
(recsys/evaluation/)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recsys import datasets
from recsys import evaluation as ev


def test_kfold_tests_every_rating_exactly_once(synthetic: datasets.Dataset) -> None:
    seen = []
    for train, test in ev.kfold(synthetic.scores, k=5, seed=1):
        assert len(train) + len(test) == len(synthetic.scores)
        assert set(train["id"]).isdisjoint(test["id"])
        seen.extend(test["id"])
    assert sorted(seen) == sorted(synthetic.scores["id"])
    first = [t["id"].tolist() for _, t in ev.kfold(synthetic.scores, 5, seed=1)]
    again = [t["id"].tolist() for _, t in ev.kfold(synthetic.scores, 5, seed=1)]
    assert first == again


def test_holdouts(synthetic: datasets.Dataset) -> None:
    train, test = ev.random_holdout(synthetic.scores, 0.2, seed=0)
    assert abs(len(test) / len(synthetic.scores) - 0.2) < 0.05
    assert set(train["id"]).isdisjoint(test["id"])
    train, test = ev.per_user_holdout(synthetic.scores, 0.2, seed=0)
    per_user_test = test.groupby("user_id").size()
    per_user_all = synthetic.scores.groupby("user_id").size()
    assert (per_user_test == np.floor(per_user_all[per_user_test.index] * 0.2)).all()
    assert set(train["user_id"]) == set(synthetic.scores["user_id"])


def test_explicit_pair_rejects_overlap_and_bad_ratings() -> None:
    train = pd.DataFrame({"user_id": [1, 1], "movie_id": [1, 2], "rating": [4, 5]})
    with pytest.raises(ValueError, match=r"in both train and test, e.g. \(1, 2\)"):
        ev.explicit_pair(train, pd.DataFrame({"user_id": [1], "movie_id": [2], "rating": [3]}))
    with pytest.raises(ValueError, match="outside 1..5"):
        ev.explicit_pair(train, pd.DataFrame({"user_id": [2], "movie_id": [2], "rating": [7]}))


def test_rating_metrics_by_hand() -> None:
    true = pd.DataFrame({"user_id": [1, 1, 2], "movie_id": [1, 2, 1], "rating": [4, 2, 5]})
    pred = true[["user_id", "movie_id"]].assign(predicted=[3.0, 2.0, 3.0])
    assert ev.rmse(true, pred) == pytest.approx(math.sqrt((1 + 0 + 4) / 3))
    assert ev.mae(true, pred) == pytest.approx(1.0)


def test_ranking_metrics_by_hand() -> None:
    # user 1: relevant {10, 30}; recommended 10 (hit), 20, 30 (hit)
    # user 2: relevant {40}; recommended 50, 60, 70 (no hit)
    # user 3: no relevant movie (rating 2): not counted
    test = pd.DataFrame({"user_id": [1, 1, 1, 2, 3], "movie_id": [10, 30, 99, 40, 10],
                         "rating": [5, 4, 3, 4, 2]})
    recs = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 2], "movie_id": [10, 20, 30, 50, 60, 70],
                         "rank": [1, 2, 3, 1, 2, 3]})
    got = ev.ranking_metrics(test, recs, k=3)
    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3)
    assert got["precision@3"] == pytest.approx((2 / 3 + 0) / 2)
    assert got["recall@3"] == pytest.approx((1 + 0) / 2)
    assert got["ndcg@3"] == pytest.approx((dcg / idcg + 0) / 2)
    assert got["hit_rate@3"] == pytest.approx(0.5)
    assert ev.coverage(recs, n_items=12, k=3) == pytest.approx(6 / 12)


def test_top_k_never_returns_training_movies(synthetic: datasets.Dataset) -> None:
    train, _ = ev.random_holdout(synthetic.scores, 0.2, seed=0)
    scorer = ev.Popularity().fit(train, synthetic)
    users = np.array([1, 2, 3])
    recs = ev.top_k(scorer, train, users, k=10)
    assert recs.groupby("user_id").size().tolist() == [10, 10, 10]
    merged = recs.merge(train, on=["user_id", "movie_id"])
    assert merged.empty


def test_baselines_order_on_synthetic_data(synthetic: datasets.Dataset) -> None:
    train, test = ev.random_holdout(synthetic.scores, 0.2, seed=0)
    mean = ev.evaluate(ev.GlobalMean(), train, test, synthetic)
    biases = ev.evaluate(ev.Biases(), train, test, synthetic)
    assert biases["rmse"] < mean["rmse"]
    assert math.isnan(mean["ndcg@10"])
    ease = ev.evaluate(ev.EASE(l2=50), train, test, synthetic)
    popularity = ev.evaluate(ev.Popularity(), train, test, synthetic)
    assert math.isnan(ease["rmse"]) and ease["ndcg@10"] > 0
    assert 0 < popularity["coverage"] <= 1


def test_ease_baseline_is_sparse_and_covers_the_most_rated_movies(
        synthetic: datasets.Dataset) -> None:
    """The EASE baseline matches the dense formula on the movies it covers and scores the
    rest 0, so that it runs at 62,000 movies (a dense users x movies matrix would not)."""
    import numpy as np

    from recsys.algorithms.ease import ease_weights

    train, _ = ev.random_holdout(synthetic.scores, 0.2, seed=0)
    full = ev.EASE(l2=50).fit(train, synthetic)
    top = ev.EASE(l2=50, max_items=20).fit(train, synthetic)
    users = np.sort(train["user_id"].unique())[:5]
    dense = np.zeros((len(full._user_ids), len(full.movie_ids)))
    dense[full._pos(full.user_pos, train["user_id"]),
          full._pos(full.movie_pos, train["movie_id"])] = 1.0
    rows = dense[full._pos(full.user_pos, users)]
    np.testing.assert_allclose(full.score_items(users), rows @ ease_weights(dense, 50),
                               rtol=1e-4, atol=1e-5)
    counts = dense.sum(axis=0)
    assert len(top.items) == 20 and counts[top.items].min() >= np.delete(counts, top.items).max()
    scores = top.score_items(users)
    assert np.all(np.delete(scores, top.items, axis=1) == 0)
    np.testing.assert_allclose(scores[:, top.items],
                               rows[:, top.items] @ ease_weights(dense[:, top.items], 50),
                               rtol=1e-4, atol=1e-5)
    assert np.all(top.score_items(np.array([10**9])) == 0)  # a user never seen
