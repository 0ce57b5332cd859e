"""RP3beta (Paudel et al., 2017; as benchmarked by Dacrema et al., 2019): a three-step random
walk user -> movie -> user -> movie on the rating graph, each step's transition probability
raised to ``alpha``, and every target movie's score divided by its popularity to the power
``beta`` (a popularity correction). A user's scores are ``P_u W`` with the movie x movie
``W = P_iu P_ui / pop^beta``; each movie keeps its ``neighbours`` strongest links.

Like EASE it covers the :data:`recsys.algorithms.ease.MAX_ITEMS` most-rated movies (``W``
is dense); the others score 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.algorithms.ease import MAX_ITEMS
from recsys.datasets.tables import Dataset
from recsys.evaluation.baselines import ItemToItem
from recsys.peers.tuning import Tuned

#: The settings tried on the validation slice (Dacrema et al. searched alpha in 0..2 and
#: beta in 0..2; the best values on MovieLens sit near alpha 0.5-1, beta 0.2-0.6).
GRID = tuple({"alpha": a, "beta": b} for a in (0.6, 1.0) for b in (0.2, 0.4, 0.6))


def _rows_normalised(matrix: sp.csr_matrix) -> sp.csr_matrix:
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(totals, 1e-12)) @ matrix)


def keep_strongest(weights: np.ndarray, neighbours: int) -> np.ndarray:
    """``weights`` with all but each row's ``neighbours`` largest entries set to 0."""
    if neighbours >= weights.shape[1]:
        return weights
    cut = np.partition(weights, -neighbours, axis=1)[:, -neighbours][:, None]
    return np.where(weights >= cut, weights, 0.0)


class RP3beta(ItemToItem):
    """RP3beta with fixed settings (see :func:`tuned` for the searched one)."""

    name = "rp3beta"

    def __init__(self, alpha: float = 1.0, beta: float = 0.4, neighbours: int = 200,
                 max_items: int = MAX_ITEMS) -> None:
        self.alpha, self.beta = alpha, beta
        self.neighbours, self.max_items = neighbours, max_items

    def fit(self, train: pd.DataFrame, data: Dataset) -> RP3beta:
        counts = self._cover(train, data)
        X = self.X[:, self.items]
        user_to_movie = _rows_normalised(X)
        movie_to_user = _rows_normalised(sp.csr_matrix(X.T))
        user_to_movie.data **= self.alpha
        movie_to_user.data **= self.alpha
        walk = np.asarray((movie_to_user @ user_to_movie).todense())
        walk /= np.maximum(counts[self.items], 1.0)[None, :] ** self.beta
        np.fill_diagonal(walk, 0.0)
        self.W = keep_strongest(walk, self.neighbours).astype(np.float32)
        return self


def tuned() -> Tuned:
    """RP3beta with alpha and beta chosen on the validation slice (:data:`GRID`)."""
    return Tuned("rp3beta", RP3beta, GRID)
