"""The Recommender on synthetic data: determinism, clipping, exclusion, persistence, cold
start, and learning a planted preference pattern."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recsys import datasets
from recsys import evaluation as ev
from recsys.models import ModelConfig, ModelError, Recommender

FAST = ModelConfig(max_epochs=25, seed=7)


@pytest.fixture(scope="module")
def data() -> datasets.Dataset:
    return datasets.synthetic(n_users=80, n_movies=100, ratings_per_user=30, seed=11)


@pytest.fixture(scope="module")
def split(data: datasets.Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    return ev.random_holdout(data.scores, 0.2, seed=0)


@pytest.fixture(scope="module")
def model(data: datasets.Dataset, split: tuple[pd.DataFrame, pd.DataFrame]) -> Recommender:
    return Recommender(FAST).fit(split[0], data)


@pytest.mark.training
def test_same_seed_same_model_other_seed_other_model(
        data: datasets.Dataset, split: tuple[pd.DataFrame, pd.DataFrame],
        model: Recommender) -> None:
    test = split[1]
    again = Recommender(FAST).fit(split[0], data)
    np.testing.assert_array_equal(model.predict(test["user_id"], test["movie_id"]),
                                  again.predict(test["user_id"], test["movie_id"]))
    users = np.sort(test["user_id"].unique())  # the ranking too (EASE, iALS, liking)
    np.testing.assert_array_equal(model.score_items(users), again.score_items(users))
    other = Recommender(dataclasses.replace(FAST, seed=8)).fit(split[0], data)
    assert not np.allclose(model.predict(test["user_id"], test["movie_id"]),
                           other.predict(test["user_id"], test["movie_id"]))


@pytest.mark.training
def test_predictions_are_clipped_to_the_rating_scale(data: datasets.Dataset) -> None:
    # a user who gives everything a 5 and one who gives everything a 1 push the raw output
    # of a linear model past the scale; predict must still stay within [1, 5]
    scores = data.scores.copy()
    scores.loc[scores["user_id"] == 1, "rating"] = 5
    scores.loc[scores["user_id"] == 2, "rating"] = 1
    rec = Recommender(FAST).fit(scores, data)
    every_movie = rec.movie_ids
    high = rec.predict(np.full(len(every_movie), 1), every_movie)
    low = rec.predict(np.full(len(every_movie), 2), every_movie)
    assert high.max() <= 5.0 and low.min() >= 1.0
    raw_high = rec.raw_ratings(np.full(len(every_movie), 1), every_movie)
    raw_low = rec.raw_ratings(np.full(len(every_movie), 2), every_movie)
    assert raw_high.max() > 5.0 or raw_low.min() < 1.0  # clipping is actually exercised
    assert np.isclose(high.max(), 5.0) or high.max() > 4.5


@pytest.mark.training
def test_recommend_excludes_what_the_user_has_seen(model: Recommender,
                                                   split: tuple[pd.DataFrame, pd.DataFrame]
                                                   ) -> None:
    train = split[0]
    seen = set(train.loc[train["user_id"] == 3, "movie_id"])
    recs = model.recommend(3, k=20)
    assert len(recs) == 20 and recs["rank"].tolist() == list(range(1, 21))
    assert seen.isdisjoint(recs["movie_id"])
    assert recs["score"].is_monotonic_decreasing
    assert recs["predicted_rating"].between(1, 5).all()
    with_seen = model.recommend(3, k=len(model.movie_ids), exclude_seen=False)
    assert seen <= set(with_seen["movie_id"])
    extra = int(recs["movie_id"].iloc[0])
    assert extra not in set(model.recommend(3, k=20, exclude=[extra])["movie_id"])
    with pytest.raises(ValueError, match="k must be at least 1"):
        model.recommend(3, k=0)


@pytest.mark.training
def test_save_and_load_give_identical_outputs(model: Recommender, data: datasets.Dataset,
                                              split: tuple[pd.DataFrame, pd.DataFrame],
                                              tmp_path: Path) -> None:
    folder = model.save(tmp_path / "models", metrics={"note": "test"})
    assert (tmp_path / "models" / "LATEST").read_text().strip() == folder.name
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["fingerprint"] == model.fingerprint and meta["metrics"] == {"note": "test"}
    assert not list((tmp_path / "models").glob(".tmp-*"))
    loaded = Recommender.load(tmp_path / "models", data=data)
    test = split[1]
    np.testing.assert_array_equal(model.predict(test["user_id"], test["movie_id"]),
                                  loaded.predict(test["user_id"], test["movie_id"]))
    pd.testing.assert_frame_equal(model.recommend(5, k=10), loaded.recommend(5, k=10))
    pd.testing.assert_frame_equal(model.movie_embeddings(), loaded.movie_embeddings())
    assert loaded.version == folder.name


@pytest.mark.training
def test_a_warm_start_continues_the_holdout_models_networks(
        model: Recommender, data: datasets.Dataset, tmp_path: Path) -> None:
    # what training.train does after its holdout: the final fit starts from that model
    assert model.start_history is None and not model.fitted.warm_started
    final = Recommender(FAST).fit(data.scores, data, warm_start=model)
    assert final.fitted.warm_started
    pd.testing.assert_frame_equal(final.start_history, model.history)
    # continued, not trained again: its first epoch starts where the first fit ended
    first = final.history.groupby("network")["val_rmse"].first()
    assert (first < model.history.groupby("network")["val_rmse"].first()).all()
    # the history it started from is a training-time aid, not part of the artifact
    final.save(tmp_path / "models")
    assert Recommender.load(tmp_path / "models", data=data).start_history is None


@pytest.mark.training
def test_loading_with_mismatched_data_fails_clearly(model: Recommender,
                                                    data: datasets.Dataset,
                                                    tmp_path: Path) -> None:
    model.save(tmp_path)
    fewer = dataclasses.replace(data, movies=data.movies.iloc[:-3])
    with pytest.raises(ModelError, match=r"trained on 100 movies but the data has 97 "
                                         r"\(0 new, 3 missing\)"):
        Recommender.load(tmp_path, data=fewer)
    with pytest.raises(ModelError, match="no trained model"):
        Recommender.load(tmp_path / "nothing-here")


@pytest.mark.training
def test_cold_users_and_movies_get_sensible_output(model: Recommender,
                                                   data: datasets.Dataset) -> None:
    unknown_user, unknown_movie = 10_000, 20_000
    ratings = model.predict([unknown_user, 1, unknown_user], [1, unknown_movie, unknown_movie])
    assert np.isfinite(ratings).all() and ((ratings >= 1) & (ratings <= 5)).all()
    assert model.is_cold(unknown_user) and not model.is_cold(1)
    cold = model.recommend(unknown_user, k=10)
    assert len(cold) == 10 and cold["movie_id"].is_unique
    # the cold-start list favours movies many people rated
    counts = data.scores.groupby("movie_id").size()
    assert counts.reindex(cold["movie_id"]).fillna(0).mean() > counts.mean()
    # a user who exists in the tables but has no training ratings uses their side features
    with_side = dataclasses.replace(
        data, persons=pd.concat([data.persons, data.persons.tail(1).assign(id=999)]),
        users=pd.concat([data.users, data.users.tail(1).assign(id=999)]))
    rec = Recommender(FAST).fit(data.scores, with_side)
    assert rec.is_cold(999) and 999 in set(rec.user_embeddings().index)
    assert len(rec.recommend(999, k=5)) == 5


@pytest.mark.training
def test_model_learns_the_planted_preference(data: datasets.Dataset,
                                             split: tuple[pd.DataFrame, pd.DataFrame],
                                             model: Recommender) -> None:
    train, test = split
    mine = ev.evaluate(model, train, test, data, fit=False)
    biases = ev.evaluate(ev.Biases(), train, test, data)
    popularity = ev.evaluate(ev.Popularity(), train, test, data)
    assert mine["rmse"] < biases["rmse"] - 0.05, (mine["rmse"], biases["rmse"])
    assert mine["ndcg@10"] > popularity["ndcg@10"], (mine["ndcg@10"], popularity["ndcg@10"])


@pytest.mark.training
def test_embeddings_are_keyed_by_database_id(model: Recommender,
                                             data: datasets.Dataset) -> None:
    movies = model.movie_embeddings()
    users = model.user_embeddings()
    assert movies.index.tolist() == sorted(data.movies["id"])
    assert set(users.index) == set(data.users["id"])
    assert movies.shape[1] == users.shape[1] == FAST.factors * FAST.ensemble
    # dot product of the exported vectors is the interaction term of the networks' prediction
    # (the rating blend adds its correction on top of it)
    u, m = 4, int(movies.index[0])
    raw = model.derived(blend=False).raw_ratings([u], [m])[0]
    assert raw != model.raw_ratings([u], [m])[0]
    state = model.fitted
    f = state.factors
    assert raw - model.global_mean - f.user_bias[state.users.position(u)] - \
        f.movie_bias[state.movies.position(m)] == pytest.approx(
            float(users.loc[u].to_numpy() @ movies.loc[m].to_numpy()), rel=1e-4)


@pytest.mark.training
def test_reference_model_reproduces_the_original_ceiling(
        data: datasets.Dataset, split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference = Recommender(dataclasses.replace(FAST, kind="reference")).fit(split[0], data)
    predictions = reference.predict(split[1]["user_id"], split[1]["movie_id"])
    assert predictions.max() < 4.0  # 4 * sigmoid can never reach a 5
    assert len(reference.recommend(1, k=5)) == 5


@pytest.mark.training
def test_cli_evaluate_on_an_explicit_pair(data: datasets.Dataset,
                                          split: tuple[pd.DataFrame, pd.DataFrame],
                                          tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    datasets.save(data, data_dir)
    frames = datasets.to_csv_frames(dataclasses.replace(data, scores=split[0]))
    frames["scores"].to_csv(tmp_path / "train.csv", index=False)
    frames = datasets.to_csv_frames(dataclasses.replace(data, scores=split[1]))
    frames["scores"].to_csv(tmp_path / "test.csv", index=False)
    env = {"RECSYS_DATA_DIR": str(data_dir), "RECSYS_VAR_DIR": str(tmp_path / "var"),
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "recsys.cli", "evaluate", "--train", str(tmp_path / "train.csv"),
         "--test", str(tmp_path / "test.csv"), "--models", "model,biases,popularity",
         "--predictions-out", str(tmp_path / "p.csv"), "--recommendations-out",
         str(tmp_path / "r.csv"), "--k", "5", "--epochs", "10", "--quiet"],
        env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    table = json.loads(done.stdout)
    assert set(table) == {"model", "biases", "popularity"}
    assert table["popularity"]["rmse"] is None and table["model"]["ndcg@5"] > 0
    predictions = pd.read_csv(tmp_path / "p.csv")
    assert list(predictions.columns) == ["user_id", "movie_id", "rating", "predicted"]
    assert len(predictions) == len(split[1])
    recs = pd.read_csv(tmp_path / "r.csv")
    assert list(recs.columns) == ["user_id", "rank", "movie_id"]
    assert recs.groupby("user_id").size().max() == 5
    assert recs.merge(split[0], on=["user_id", "movie_id"]).empty


def test_score_batches_shrink_with_the_catalogue_and_give_the_same_lists(
        api_data: datasets.Dataset, api_model: Any) -> None:
    users = api_data.users["id"].to_numpy()
    default = api_model.recommend_many(users, 5)
    small = api_model.recommend_many(users, 5, batch=3)
    pd.testing.assert_frame_equal(default, small)
