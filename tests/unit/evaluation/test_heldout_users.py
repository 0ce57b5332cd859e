"""Liang et al.'s strong-generalisation protocol: the split of whole users and the paper's
metrics (recsys/evaluation/splits.py, recsys/algorithms/metrics.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recsys import datasets
from recsys import evaluation as ev
from recsys.algorithms.metrics import liang_metrics
from recsys.errors import UsageError


def test_every_kept_user_is_held_out_once_with_a_fifth_to_find(
        synthetic: datasets.Dataset) -> None:
    scores = synthetic.scores
    liked = scores[scores["rating"] >= 4]
    enough = liked.groupby("user_id").size()
    kept_users = set(enough[enough >= 5].index)
    assert kept_users != set(liked["user_id"]) or len(kept_users) > 10  # the data has both
    held_out: list[int] = []
    for train, test in ev.strong_generalisation(scores, folds=4, seed=1):
        # binarised: only ratings of 4 or more, only users with 5 of them
        assert (train["rating"] >= 4).all() and (test["rating"] >= 4).all()
        assert set(train["user_id"]) | set(test["user_id"]) == kept_users
        assert set(train["id"]).isdisjoint(test["id"])
        assert len(train) + len(test) == len(liked[liked["user_id"].isin(kept_users)])
        group = sorted(test["user_id"].unique())
        held_out.extend(group)
        # each held-out user: a fifth (rounded down) to find, the rest given as fold-in
        found = test.groupby("user_id").size()
        given = train[train["user_id"].isin(group)].groupby("user_id").size()
        assert (found == np.floor((found + given[found.index]) * 0.2)).all()
    assert sorted(held_out) == sorted(kept_users)


def test_one_group_of_heldout_users_and_clear_errors(synthetic: datasets.Dataset) -> None:
    splits = list(ev.strong_generalisation(synthetic.scores, heldout_users=7, seed=0))
    assert len(splits) == 1 and splits[0][1]["user_id"].nunique() == 7
    again = list(ev.strong_generalisation(synthetic.scores, heldout_users=7, seed=0))
    assert splits[0][1]["id"].tolist() == again[0][1]["id"].tolist()
    with pytest.raises(UsageError, match="heldout_users must be between 1 and"):
        next(ev.strong_generalisation(synthetic.scores, heldout_users=10_000))
    with pytest.raises(UsageError, match="fold_in must be between 0 and 1"):
        next(ev.strong_generalisation(synthetic.scores, fold_in=1.0))
    with pytest.raises(UsageError, match="folds >= 2"):
        next(ev.strong_generalisation(synthetic.scores, folds=1))


def test_liang_metrics_by_hand() -> None:
    # user 1 must find {10, 20, 30}: its list has 10 first and 30 third
    # user 2 must find 60 movies (ids 100..159): its list has 50 of them in the first 50
    test = pd.DataFrame({"user_id": [1, 1, 1] + [2] * 60,
                         "movie_id": [10, 20, 30, *range(100, 160)]})
    recs = pd.DataFrame({"user_id": [1, 1, 1] + [2] * 100,
                         "movie_id": [10, 99, 30, *range(100, 150), *range(500, 550)],
                         "rank": [1, 2, 3, *range(1, 101)]})
    got = liang_metrics(test, recs)
    d = 1 / np.log2(np.arange(2, 102))
    user1_ndcg = (d[0] + d[2]) / d[:3].sum()
    user2_ndcg = d[:50].sum() / d[:60].sum()
    assert got["ndcg@100"] == pytest.approx((user1_ndcg + user2_ndcg) / 2)
    # recall divides by min(k, to find): user 2's 20 hits in 20 is a perfect 1.0
    assert got["recall@20"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert got["recall@50"] == pytest.approx((2 / 3 + 50 / 50) / 2)
    empty = liang_metrics(test.iloc[:0], recs)
    assert all(math.isnan(v) for v in empty.values())
