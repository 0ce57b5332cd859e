"""Settings chosen on a validation slice of the training data, as the peers' papers do.

:class:`Tuned` wraps a scorer family (a function of keyword settings) and a grid. Its
``fit(train, data)`` holds out a seeded :data:`VALIDATION_FRACTION` of ``train``, fits one
scorer per setting on the rest, measures NDCG@10 on the held-out slice with the evaluation's
own protocol, and then fits the best setting on the whole of ``train``. The test fold is
never read, so a peer's number in a comparison is one it could have had in advance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from recsys.datasets.tables import Dataset
from recsys.evaluation.baselines import Scorer
from recsys.evaluation.protocol import evaluate
from recsys.evaluation.splits import random_holdout

#: Share of the training ratings held out to choose settings on.
VALIDATION_FRACTION = 0.1
#: The slice's seed (fixed: every peer is tuned on the same slice of a given training set).
VALIDATION_SEED = 0
#: The measure settings are chosen by.
MEASURE = "ndcg@10"


def choose(make: Callable[..., Scorer], grid: Sequence[Mapping[str, Any]],
           train: pd.DataFrame, data: Dataset) -> tuple[dict[str, Any], pd.DataFrame]:
    """The setting of ``grid`` whose scorer ranks the validation slice best, and every
    setting's NDCG@10 (one row each, in grid order; ties keep the first)."""
    inner, validation = random_holdout(train, VALIDATION_FRACTION, seed=VALIDATION_SEED)
    rows = []
    for setting in grid:
        metrics = evaluate(make(**setting), inner, validation, data, k=10)
        rows.append({**setting, MEASURE: metrics[MEASURE]})
    table = pd.DataFrame(rows)
    best = int(np.nanargmax(table[MEASURE].to_numpy(dtype=float)))
    return dict(grid[best]), table


class Tuned:
    """A scorer whose settings are chosen on a validation slice of each training set.

    Attributes (after ``fit``):
        chosen: the setting fitted on the whole training set.
        tuning: NDCG@10 of every setting on the validation slice.
    """

    def __init__(self, name: str, make: Callable[..., Scorer],
                 grid: Sequence[Mapping[str, Any]]) -> None:
        if not grid:
            raise ValueError("a tuned scorer needs at least one setting")
        self.name, self.make, self.grid = name, make, tuple(grid)
        self.chosen: dict[str, Any] = {}
        self.tuning = pd.DataFrame()
        self._scorer: Scorer | None = None

    def fit(self, train: pd.DataFrame, data: Dataset) -> Tuned:
        if len(self.grid) > 1:
            self.chosen, self.tuning = choose(self.make, self.grid, train, data)
        else:
            self.chosen = dict(self.grid[0])
        self._scorer = self.make(**self.chosen).fit(train, data)
        return self

    @property
    def scorer(self) -> Scorer:
        """The scorer fitted with the chosen setting."""
        if self._scorer is None:
            raise RuntimeError(f"{self.name} is not fitted")
        return self._scorer

    @property
    def movie_ids(self) -> np.ndarray:
        return self.scorer.movie_ids

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray,
                at: Any = None) -> np.ndarray | None:
        return self.scorer.predict(user_ids, movie_ids, at)

    def score_items(self, user_ids: np.ndarray) -> np.ndarray | None:
        return self.scorer.score_items(user_ids)
