"""The iALS ranking model and the ranking score built from it (recsys.models.ials,
Recommender.derived / previous_model)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys import datasets
from recsys.algorithms.topk import standardise
from recsys.models import ModelConfig, Recommender, ials
from recsys.models.ranker import liking


@pytest.fixture(scope="module")
def model() -> Recommender:
    data = datasets.synthetic(n_users=60, n_movies=80, ratings_per_user=25, seed=5)
    return Recommender(ModelConfig(max_epochs=5, ensemble=1, autorec=False, seed=3)).fit(
        data.scores, data)


def test_each_row_is_the_closed_form_ridge_solution() -> None:
    """The batched solve equals the textbook normal equations of one row, done by hand."""
    rng = np.random.default_rng(0)
    rated = sp.random(7, 9, density=0.4, random_state=1, format="csr")
    rated.data[:] = 1.0
    other = rng.normal(size=(9, 3))
    unobserved, l2 = 0.2, 0.05
    solved = ials._solve(rated, other, unobserved, l2)
    for row in range(7):
        cols = rated[row].indices
        weights = np.full(9, unobserved)
        weights[cols] = 1.0
        target = np.zeros(9)
        target[cols] = 1.0
        penalty = l2 * (len(cols) + unobserved * 9) if len(cols) else 0.0
        if not len(cols):
            assert np.all(solved[row] == 0)
            continue
        system = other.T @ (weights[:, None] * other) + penalty * np.eye(3)
        expected = np.linalg.solve(system, other.T @ (weights * target))
        np.testing.assert_allclose(solved[row], expected, rtol=1e-8, atol=1e-10)


def test_ials_ranks_a_users_taste_cluster_first() -> None:
    """Two groups of users watch two groups of movies: a user's unseen movies of their own
    group outscore the other group's."""
    rng = np.random.default_rng(3)
    users, movies = [], []
    for user in range(1, 61):
        group = user % 2
        pool = np.arange(1, 21) + 20 * group  # group 0: movies 1-20, group 1: 21-40
        for movie in rng.choice(pool, size=8, replace=False):
            users.append(user)
            movies.append(movie)
    fitted = ials.fit(np.array(users), np.array(movies), 61, 41, members=2, seed=0,
                      factors=4)
    scores = fitted.scores(np.arange(1, 61))  # columns: movies 1..40
    own = np.where((np.arange(1, 61) % 2 == 0)[:, None], scores[:, :20], scores[:, 20:])
    other = np.where((np.arange(1, 61) % 2 == 0)[:, None], scores[:, 20:], scores[:, :20])
    assert (own.mean(axis=1) > other.mean(axis=1) + 0.1).all()
    assert fitted.users.shape == (61, 8)  # two members of four factors, concatenated
    assert np.all(fitted.users[0] == 0) and np.all(fitted.movies[0] == 0)


@pytest.mark.training
def test_the_ranking_score_is_the_documented_sum(model: Recommender) -> None:
    state = model.fitted
    users = np.array([1, 2, 3])
    u = state.users.positions(users)
    ratings = model._rating_matrix(u)
    expected = (standardise(state.ranker.scores(u))
                + model.config.rank_blend * standardise(liking(ratings))
                + model.config.rank_ials * standardise(state.ials.scores(u)))
    np.testing.assert_allclose(model.score_items(users), expected, rtol=1e-5, atol=1e-6)
    previous = model.previous_model()
    assert previous.fitted.blend is None and previous.fitted.ials is None
    networks_only = previous._rating_matrix(u)
    np.testing.assert_allclose(
        previous.score_items(users),
        standardise(state.ranker.scores(u)) + 0.3 * standardise(networks_only),
        rtol=1e-5, atol=1e-6)


def test_liking_is_monotone_and_saturates() -> None:
    values = liking(np.array([1.0, 3.0, 3.5, 4.0, 5.0]))
    assert np.all(np.diff(values) > 0)
    assert values[2] == pytest.approx(np.log(0.5))
    assert values[-1] > -0.05


@pytest.mark.training
def test_derived_refuses_what_needs_training(model: Recommender) -> None:
    with pytest.raises(ValueError, match="without training"):
        model.derived(factors=8)
    no_ials = model.derived(ials=0)
    with pytest.raises(ValueError, match="not on"):
        no_ials.derived(ials=5)
    assert no_ials.fitted.ials is None and model.fitted.ials is not None
