"""The EASE ranker's lambda search (recsys/models/ranker.py) and EASE's Cholesky inverse
(recsys/algorithms/ease.py)."""

from __future__ import annotations

import numpy as np
import pytest

from recsys import datasets
from recsys import evaluation as ev
from recsys.algorithms.ease import spd_inverse, weights_from_gram
from recsys.models.ranker import climb, search_l2


def test_the_ease_lambda_search_measures_what_the_evaluation_measures() -> None:
    """With unweighted ratings the search's NDCG@10 for each lambda is the evaluation's
    NDCG@10 of the EASE baseline on the same split, and it keeps the best lambda."""
    data = datasets.synthetic(n_users=300, n_movies=150, ratings_per_user=30, seed=3)
    scores = data.scores
    is_val = np.random.default_rng(0).random(len(scores)) < 0.2
    u, m = scores["user_id"].to_numpy(), scores["movie_id"].to_numpy()
    r = scores["rating"].to_numpy(np.float32)
    grid = (1.0, 50.0, 2_000.0)
    chosen, found = search_l2(u, m, r, is_val, int(u.max()) + 1, int(m.max()) + 1, 0.0,
                              grid=grid)
    assert set(found) <= set(grid) and len(found) >= 2
    assert chosen == max(found, key=found.__getitem__)
    train, test = scores[~is_val], scores[is_val]
    for l2, ndcg in found.items():
        measured = ev.evaluate(ev.EASE(l2), train, test, data)["ndcg@10"]
        assert ndcg == pytest.approx(measured, abs=1e-9), l2
    assert len(set(found.values())) > 1  # the lambdas rank differently here


@pytest.mark.parametrize("peak", range(5))
def test_the_lambda_climb_finds_the_best_rung_with_fewer_fits(peak: int) -> None:
    """On a measure that rises then falls along the ladder, the climb returns the best rung,
    having measured it and both its neighbours (when they exist) and nothing past them."""
    ladder = (1.0, 2.0, 3.0, 4.0, 5.0)
    measured: list[float] = []

    def measure(value: float) -> float:
        measured.append(value)
        return -abs(value - ladder[peak])

    chosen, found = climb(ladder, measure, start=1)
    assert chosen == ladder[peak]
    assert len(measured) == len(set(measured)) == len(found)  # each rung fitted once
    neighbours = {ladder[i] for i in (peak - 1, peak, peak + 1) if 0 <= i < len(ladder)}
    assert neighbours <= set(found)
    assert len(found) == (4 if peak >= 3 else 3)  # never all 5 rungs from the second one
    assert climb((7.0,), measure) == (7.0, {7.0: -abs(7.0 - ladder[peak])})


def test_the_cholesky_inverse_gives_ease_the_general_inverses_weights() -> None:
    """EASE's weights through the Cholesky inverse equal those through a general inverse,
    across the bands the mirroring works in."""
    rng = np.random.default_rng(0)
    for n in (1, 7, 1024, 1300):
        X = (rng.random((2 * n + 20, n)) < 0.05).astype(np.float64)
        gram = X.T @ X
        regularised = gram + 30.0 * np.eye(n)
        inverse = spd_inverse(np.array(regularised, order="F"))
        np.testing.assert_allclose(inverse, np.linalg.inv(regularised), rtol=0, atol=1e-12)
        P = np.linalg.inv(regularised)
        expected = -P / np.diag(P)
        expected[np.diag_indices_from(expected)] = 0.0
        weights = weights_from_gram(gram, 30.0)
        np.testing.assert_allclose(weights, expected.astype(np.float32), rtol=1e-6, atol=1e-7)
        # row-major, as scoring (sparse rows x weights) reads it 3x faster than column-major
        assert weights.flags.c_contiguous
    with pytest.raises(np.linalg.LinAlgError, match="positive definite"):
        spd_inverse(np.array([[1.0, 2.0], [2.0, 1.0]], order="F"))
