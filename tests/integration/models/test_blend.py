"""The rating blend: its parts by hand, and what it must do for the model (use a day effect
when the date is known, never do worse than the networks alone, survive save and load)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from recsys import datasets
from recsys import evaluation as ev
from recsys.models import ModelConfig, Recommender, blend

FAST = ModelConfig(max_epochs=25, seed=7)


@pytest.fixture(scope="module")
def moody() -> tuple[datasets.Dataset, pd.DataFrame, pd.DataFrame]:
    """Synthetic data where every user has good and bad days: a rating's day shifts it by
    up to one star, which only a model that reads dates can know."""
    data = datasets.synthetic(n_users=120, n_movies=150, ratings_per_user=40, seed=3)
    scores = data.scores.copy()
    rng = np.random.default_rng(0)
    day = rng.integers(0, 6, len(scores))
    scores["rated_at"] = pd.Timestamp("1998-01-01") + pd.to_timedelta(day, unit="D")
    mood = rng.choice([-1, 0, 1], size=(scores["user_id"].max() + 1, 6))
    scores["rating"] = np.clip(scores["rating"] + mood[scores["user_id"], day], 1, 5)
    data = dataclasses.replace(data, scores=scores)
    train, test = ev.random_holdout(scores, 0.2, seed=0)
    return data, train, test


@pytest.fixture(scope="module")
def short(moody: tuple[datasets.Dataset, pd.DataFrame, pd.DataFrame]) -> Recommender:
    """A model trained for three epochs (with its blend and AutoRec), shared by the tests that
    need a trained blend but not a good one."""
    data, train, _ = moody
    return Recommender(dataclasses.replace(FAST, max_epochs=3)).fit(train, data)


def test_neighbourhood_by_hand() -> None:
    # movies 0..3; user 0 rated movies 1, 2, 3 with residuals +1, -1, +2
    sim = np.array([[0, 0.9, 0.5, -0.4],
                    [0.9, 0, 0.1, 0.2],
                    [0.5, 0.1, 0, 0.3],
                    [-0.4, 0.2, 0.3, 0]], np.float32)
    u = np.array([0, 0, 0])
    m = np.array([1, 2, 3])
    residual = np.array([1.0, -1.0, 2.0])
    # movie 0, two neighbours: movies 1 (0.9) and 2 (0.5); movie 3's negative similarity
    # never counts
    got = blend.neighbourhood(sim, u, m, residual, np.array([0]), np.array([0]), 2)
    assert got[0] == pytest.approx((0.9 * 1 - 0.5 * 1) / 1.4, rel=1e-5)
    every = blend.neighbourhood(sim, u, m, residual, np.array([0]), None, 2)
    assert every.shape == (1, 4) and every[0, 0] == pytest.approx(got[0], rel=1e-5)
    # a user with no ratings gets 0
    assert blend.neighbourhood(sim, u, m, residual, np.array([1]), np.array([0]), 2)[0] == 0


def test_day_table_shrinks_and_misses_are_zero() -> None:
    u = np.array([1, 1, 1, 2])
    day = np.array([10, 10, 11, 10])
    table = blend.DayTable.fit(u, day, [np.array([1.0, 2.0, 4.0, -1.0])])
    got = table.lookup(np.array([1, 1, 2, 2, 3]), np.array([10, 11, 10, 11, 10]))[:, 0]
    shrink = blend.DAY_SHRINK
    np.testing.assert_allclose(got, [3 / (2 + shrink), 4 / (1 + shrink), -1 / (1 + shrink),
                                     0, 0], rtol=1e-6)


@pytest.mark.training
def test_the_blend_reads_the_day_and_never_does_worse_than_the_networks(
        moody: tuple[datasets.Dataset, pd.DataFrame, pd.DataFrame]) -> None:
    data, train, test = moody
    blended = Recommender(FAST).fit(train, data)
    alone = Recommender(dataclasses.replace(FAST, blend=False)).fit(train, data)
    truth = test["rating"].to_numpy(float)

    def rmse(model: Recommender, at: pd.Series | None) -> float:
        got = model.predict(test["user_id"], test["movie_id"], at=at)
        return float(np.sqrt(np.mean((got - truth) ** 2)))

    with_dates, without = rmse(blended, test["rated_at"]), rmse(blended, None)
    networks = rmse(alone, None)
    assert with_dates < without - 0.05  # the planted mood is found
    assert without <= networks + 0.01  # no worse than the networks when the day is unknown
    # the evaluation hands dates over when the test ratings have them
    metrics = ev.evaluate(blended, train, test, data, fit=False)
    assert metrics["rmse"] == pytest.approx(with_dates)
    # the prediction's matrix form (ranking, batch predictions) carries the same correction
    user = int(test["user_id"].iloc[0])
    movies = blended.movie_ids
    direct = blended.raw_ratings(np.full(len(movies), user), movies)
    positions = blended.fitted.users.positions([user])
    np.testing.assert_allclose(blended._rating_matrix(positions)[0], direct, rtol=1e-5)


@pytest.mark.training
def test_dates_must_match_the_pairs(
        moody: tuple[datasets.Dataset, pd.DataFrame, pd.DataFrame], short: Recommender) -> None:
    _, _, test = moody
    model = short
    with pytest.raises(ValueError, match="3 pairs but 2 dates"):
        model.predict([1, 2, 3], [1, 2, 3], at=test["rated_at"].iloc[:2])


@pytest.mark.training
def test_saved_blend_predicts_the_same_with_dates(
        moody: tuple[datasets.Dataset, pd.DataFrame, pd.DataFrame], short: Recommender,
        tmp_path) -> None:
    data, _, test = moody
    model = short
    assert model.fitted.blend is not None
    model.save(tmp_path)
    loaded = Recommender.load(tmp_path, data=data)
    np.testing.assert_array_equal(
        model.predict(test["user_id"], test["movie_id"], at=test["rated_at"]),
        loaded.predict(test["user_id"], test["movie_id"], at=test["rated_at"]))


@pytest.mark.training
def test_autorec_learns_from_the_columns_it_reconstructs(
        moody: tuple[datasets.Dataset, pd.DataFrame, pd.DataFrame], short: Recommender) -> None:
    from recsys.models import autorec

    data, train, test = moody
    users = np.sort(data.users["id"].to_numpy())
    movies = np.sort(data.movies["id"].to_numpy())
    u, m = np.searchsorted(users, train["user_id"]), np.searchsorted(movies, train["movie_id"])
    r = train["rating"].to_numpy(np.float32)
    predicted, _ = autorec.fit_predict(u, m, r, len(users), len(movies), seed=0)
    assert predicted.shape == (len(users), len(movies))
    tu, tm = np.searchsorted(users, test["user_id"]), np.searchsorted(movies, test["movie_id"])
    held_out = float(np.sqrt(np.mean((np.clip(predicted[tu, tm], 1, 5) - test["rating"]) ** 2)))
    mean_only = float(np.sqrt(np.mean((r.mean() - test["rating"]) ** 2)))
    assert held_out < mean_only  # it generalises, not only reconstructs
    # the blend gives it a weight of its own; without it, one input fewer
    with_it = short
    without = Recommender(dataclasses.replace(FAST, max_epochs=3, autorec=False)).fit(train,
                                                                                       data)
    assert len(with_it.fitted.blend.weights) == len(without.fitted.blend.weights) + 1


def test_a_baseline_fitted_ahead_gives_the_same_blend() -> None:
    # the model fits the KNN-baseline in a second thread while the networks train
    # (recsys.models.state); handing it in must change nothing
    rng = np.random.default_rng(1)
    n_users, n_movies, n = 30, 25, 400
    u, m = rng.integers(1, n_users, n), rng.integers(1, n_movies, n)
    r = rng.integers(1, 6, n).astype(np.float32)
    is_val = rng.random(n) < 0.2
    full = rng.normal(3.5, 0.5, (n_users, n_movies)).astype(np.float32)
    predict = full[u, m]
    ahead = blend.Baseline.fit(u, m, r, is_val, 5, n_users, n_movies)
    inside = blend.fit(u, m, r, None, is_val, predict, full, 5, n_users, n_movies)
    given = blend.fit(u, m, r, None, is_val, predict, full, 5, n_users, n_movies,
                      baseline=ahead)
    np.testing.assert_array_equal(inside.correction, given.correction)
    np.testing.assert_array_equal(inside.weights, given.weights)
    # and the baseline is what it says: biases plus a neighbourhood, finite everywhere
    assert ahead.every.shape == (n_users, n_movies) and np.isfinite(ahead.every).all()
    assert len(ahead.at_validation) == is_val.sum()
    assert len(ahead.residual) == (~is_val).sum()
