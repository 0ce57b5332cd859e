"""Splits of the ratings into training and test parts: random, per user, k folds, or an
explicit pair checked for leakage."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from recsys.algorithms.columns import ITEM, RATING, USER
from recsys.errors import UsageError
from recsys.rules import STARS, RatingScale


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


def explicit_pair(train: pd.DataFrame, test: pd.DataFrame, scale: RatingScale = STARS
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check an explicit train/test pair: required columns, ratings on the dataset's
    ``scale`` (the course's whole stars by default), no shared pair."""
    for name, frame in (("train", train), ("test", test)):
        missing = [c for c in (USER, ITEM, RATING) if c not in frame.columns]
        if missing:
            raise UsageError(f"{name} lacks column(s) {missing}")
        bad = ~np.asarray(scale.valid(pd.to_numeric(frame[RATING], errors="coerce")), bool)
        if bad.any():
            raise UsageError(f"{name} has {int(bad.sum())} rating(s) outside "
                             f"{scale.low:g}..{scale.high:g} ({scale.describe()}), e.g. "
                             f"{frame[RATING][bad].iloc[0]!r}")
    shared = train[[USER, ITEM]].merge(test[[USER, ITEM]], on=[USER, ITEM])
    if len(shared):
        raise UsageError(f"{len(shared)} (user, movie) pair(s) are in both train and test, "
                         f"e.g. {tuple(shared.iloc[0])}")
    return train.reset_index(drop=True), test.reset_index(drop=True)
