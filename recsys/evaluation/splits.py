"""Splits of the ratings into training and test parts: random, per user, k folds, whole
users held out (Liang et al.'s strong generalisation), or an explicit pair checked for
leakage."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from recsys.algorithms.columns import ITEM, RATING, USER
from recsys.errors import UsageError
from recsys.rules import LIKED_RATING, STARS, RatingScale


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


def strong_generalisation(scores: pd.DataFrame, folds: int = 5, heldout_users: int | None = None,
                          fold_in: float = 0.8, liked: float = LIKED_RATING, min_liked: int = 5,
                          seed: int = 42) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Liang et al. (2018)'s strong-generalisation protocol: whole users held out.

    The ratings are binarised as in the paper (only ratings of at least ``liked`` are kept,
    the paper's 3.5 on half stars; users with fewer than ``min_liked`` of them are left
    out). The users are then split into ``folds`` groups (or one group of
    ``heldout_users``, as the paper's 10,000 test users of MovieLens-20M). For each group,
    every other user's ratings are training; each held-out user's ratings are split at
    random, ``fold_in`` of them given to the scorers (the fold-in part, in the training
    frame) and the rest to be found (the test frame).

    Scorers here have no fold-in step of their own (the networks learn an embedding per
    user), so the fold-in part is in the training frame; the paper's EASE and Mult-VAE read
    it without refitting. The difference is small for item-based models (a few hundred
    users among thousands in the item-item matrix) and is stated with every table.
    """
    if not 0 < fold_in < 1:
        raise UsageError(f"fold_in must be between 0 and 1, got {fold_in}")
    kept = scores[scores[RATING] >= liked]
    counts = kept.groupby(USER)[USER].transform("size")
    kept = kept[counts >= min_liked].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    users = rng.permutation(np.sort(kept[USER].unique()))
    if heldout_users is not None:
        if not 0 < heldout_users < len(users):
            raise UsageError(f"heldout_users must be between 1 and {len(users) - 1}, "
                             f"got {heldout_users}")
        groups = [users[:heldout_users]]
    else:
        if folds < 2:
            raise UsageError(f"strong generalisation needs folds >= 2, got {folds}")
        groups = np.array_split(users, folds)
    for group in groups:
        held = kept[USER].isin(group).to_numpy()
        part = kept[held]
        # rounded: 1 - 0.8 is 0.19999999999999996, and 5 x that floors to 0, not 1
        _, test_part = per_user_holdout(part, round(1.0 - fold_in, 12), seed=seed)
        keys = pd.MultiIndex.from_frame(test_part[[USER, ITEM]])
        tested = pd.MultiIndex.from_frame(kept[[USER, ITEM]]).isin(keys) & held
        yield (kept[~tested].reset_index(drop=True), kept[tested].reset_index(drop=True))
