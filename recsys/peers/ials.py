"""iALS on its own (Hu, Koren and Volinsky, 2008, regularised as in Rendle et al., 2022):
the model's iALS ensemble member as a peer, tuned for ranking alone rather than as a part of
the model's score (:mod:`recsys.models.ials` has the solver)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys.datasets.tables import Dataset
from recsys.evaluation.baselines import Indexed
from recsys.models import ials
from recsys.peers.tuning import Tuned

#: The settings tried on the validation slice: Rendle et al. tune the dimension, the
#: unobserved weight and the L2 scale. Alone, iALS wants a stronger prior on the unobserved
#: pairs than as one of the model's parts (fold 0 of the benchmark: NDCG@10 on the slice
#: 0.186 at 0.2, 0.193 at 1.0); 128 factors ranked no better than 32 at four times the
#: cost, and an L2 scale of 0.05 far worse than 0.01, so the grid is the weight alone.
GRID = tuple({"factors": 32, "unobserved": w, "l2": 0.01} for w in (0.3, 1.0, 3.0))


class IALS(Indexed):
    """iALS with fixed settings (see :func:`tuned` for the searched one)."""

    name = "ials"

    def __init__(self, factors: int = ials.FACTORS, unobserved: float = ials.UNOBSERVED,
                 l2: float = ials.L2, iterations: int = ials.ITERATIONS, seed: int = 42) -> None:
        self.factors, self.unobserved, self.l2 = factors, unobserved, l2
        self.iterations, self.seed = iterations, seed

    def fit(self, train: pd.DataFrame, data: Dataset) -> IALS:
        self._index(train, data)
        X = self.interactions(train).tocoo()
        # position 0 of the solver is the unknown row: shift everyone by one
        self.model = ials.fit(X.row + 1, X.col + 1, len(self._user_ids) + 1,
                              len(self._movie_ids) + 1, members=1, seed=self.seed,
                              factors=self.factors, unobserved=self.unobserved, l2=self.l2,
                              iterations=self.iterations)
        return self

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray, at: Any = None) -> None:
        return None

    def score_items(self, user_ids: np.ndarray) -> np.ndarray:
        u = self._pos(self.user_pos, user_ids) + 1  # unknown users: row 0, all zeros
        return self.model.scores(u)


def tuned() -> Tuned:
    """iALS with its dimension, unobserved weight and L2 chosen on the validation slice."""
    return Tuned("ials", IALS, GRID)
