"""What lets the system grow past MovieLens 100K, on small data so CI stays short: shards that
cover every user and movie exactly once, the API's compact read model answering exactly as the
complete one, score batches sized to the catalogue, and the training scale rules."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from recsys import datasets, db
from recsys import evaluation as ev
from recsys.algorithms.ease import spd_inverse, weights_from_gram
from recsys.db.schema import Prediction
from recsys.errors import UsageError
from recsys.models import ModelConfig
from recsys.models.ranker import climb, search_l2
from recsys.predictions import batch
from recsys.predictions.sharding import Shard
from recsys.vectors import embeddings
from recsys.vectors.local import LocalVectorStore

# -- shards ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [("0/1", Shard(0, 1)), ("3/4", Shard(3, 4)),
                                            (" 1 / 2 ", Shard(1, 2))])
def test_shard_parses_i_of_n(text: str, expected: Shard) -> None:
    assert Shard.parse(text) == expected


@pytest.mark.parametrize("text", ["4/4", "1/0", "-1/2", "a/b", "1", "", "1/2/3"])
def test_bad_shards_are_usage_errors_naming_the_text(text: str) -> None:
    with pytest.raises(UsageError, match="shard"):
        Shard.parse(text)


def test_shards_partition_the_ids() -> None:
    ids = np.arange(1, 1000)
    owners = np.stack([Shard(i, 3).mask(ids) for i in range(3)])
    assert (owners.sum(axis=0) == 1).all()


def _predictions(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(select(Prediction.user_id, Prediction.rank, Prediction.movie_id,
                                   Prediction.predicted_rating).order_by(
            Prediction.user_id, Prediction.rank)).all()
    return pd.DataFrame(rows, columns=["user_id", "rank", "movie_id", "predicted_rating"])


def test_sharded_batch_prediction_equals_the_whole_run(loaded: Engine,
                                                       api_data: datasets.Dataset,
                                                       api_model: Any) -> None:
    db.ingest(api_data, loaded, replace=True, force=True)
    batch.run(loaded, api_model, top_n=7)
    whole = _predictions(loaded)
    with loaded.begin() as conn:
        conn.execute(Prediction.__table__.delete())
    results = [batch.run(loaded, api_model, top_n=7, shard=Shard(i, 3)) for i in range(3)]
    assert sum(r["users"] for r in results) == len(api_data.users)
    pd.testing.assert_frame_equal(_predictions(loaded), whole)
    # a shard run again replaces its own users' rows and leaves the others alone
    again = batch.run(loaded, api_model, top_n=3, shard=Shard(1, 3))
    after = _predictions(loaded)
    mine = Shard(1, 3).mask(after["user_id"])
    assert after[mine].groupby("user_id").size().max() == 3 == again["rows"] / again["users"]
    pd.testing.assert_frame_equal(after[~mine].reset_index(drop=True),
                                  whole[~Shard(1, 3).mask(whole["user_id"])]
                                  .reset_index(drop=True))


def test_sharded_indexing_needs_prepare_then_covers_every_id(api_data: datasets.Dataset,
                                                             api_model: Any,
                                                             tmp_path: Path) -> None:
    store = LocalVectorStore(tmp_path / "shards")
    with pytest.raises(embeddings.IndexNotPrepared, match="--prepare"):
        embeddings.index_all(api_data, store, api_model, shard=Shard(0, 2))
    with pytest.raises(embeddings.IndexNotPrepared, match="nothing|no staged"):
        embeddings.publish_all(store)
    embeddings.index_all(api_data, store)  # the indexes served while the shards are written
    served = {name: store.count(name) for name in ("movies_content", "users_content")}
    prepared = embeddings.index_all(api_data, store, api_model, prepare=True)
    assert set(prepared.values()) == {0} and len(prepared) == 4
    counts = [embeddings.index_all(api_data, store, api_model, shard=Shard(i, 2))
              for i in range(2)]
    assert {name: store.count(name) for name in served} == served
    assert not store.exists("movies_learned")
    published = embeddings.publish_all(store)
    whole = embeddings.index_all(api_data, LocalVectorStore(tmp_path / "whole"), api_model)
    for name, total in whole.items():
        assert counts[0][name] + counts[1][name] == total == store.count(name) \
            == published[name]
    reference = LocalVectorStore(tmp_path / "whole")
    for movie in api_data.movies["id"].head(5):
        mine = store.knn("movies_learned", store.get("movies_learned", int(movie)).vector, 5)
        theirs = reference.knn("movies_learned",
                               reference.get("movies_learned", int(movie)).vector, 5)
        assert [r.id for r in mine] == [r.id for r in theirs]


# -- the API's compact read model ------------------------------------------------------------


def test_compact_read_model_answers_as_the_complete_one(loaded: Engine,
                                                        api_data: datasets.Dataset,
                                                        api_model: Any,
                                                        tmp_path: Path) -> None:
    from conftest import serve_world

    from recsys.api import create_app

    world = serve_world(loaded, api_data, api_model, tmp_path)
    apps = {}
    # Python objects per user; flat arrays; rows read from the database per request
    for name, limit in (("complete", 10**9), ("arrays", 10**9), ("compact", 0)):
        settings = dataclasses.replace(world["settings"], api_memory_ratings=limit)
        apps[name] = create_app(**{**world, "settings": settings})
    arrays = apps["arrays"].extensions["recsys"].cache
    arrays.object_ratings, arrays.snapshot = 0, None
    arrays.refresh()
    try:
        clients = {name: app.test_client() for name, app in apps.items()}
        compact_snapshot = apps["compact"].extensions["recsys"].cache.snapshot
        assert compact_snapshot.per_request and not compact_snapshot.rated
        assert arrays.snapshot.rows is not None and not arrays.snapshot.rated
        assert arrays.snapshot.rows.nbytes > 0 and not arrays.snapshot.per_request
        assert not apps["complete"].extensions["recsys"].cache.snapshot.compact
        paths = [f"/recommendations?user_id={u}&k=5" for u in api_data.users["id"].head(8)]
        paths += [f"/movies/{m}" for m in api_data.movies["id"].head(8)]
        paths += ["/recommendations?user_id=500&k=5", "/recommendations?user_id=99999&k=5"]
        for path in paths:
            answers = {n: c.get(path) for n, c in clients.items()}
            for name in ("arrays", "compact"):
                assert answers[name].status_code == answers["complete"].status_code, path
                assert answers[name].get_json() == answers["complete"].get_json(), path
        # a new rating reaches all three: the movie's statistics, the user's list and the
        # movies the reasons come from
        user = int(api_data.users["id"].iloc[0])
        top = clients["compact"].get(f"/recommendations?user_id={user}&k=5").get_json()
        first = top["recommendations"][0]["movie_id"]
        posted = clients["compact"].post("/scores", json={"user_id": user, "movie_id": first,
                                                          "rating": 5})
        assert posted.status_code == 201, posted.get_json()
        after = {}
        for name, app in apps.items():
            app.extensions["recsys"].cache.refresh()
            after[name] = clients[name].get(f"/recommendations?user_id={user}&k=5").get_json()
            assert first not in [r["movie_id"] for r in after[name]["recommendations"]], name
        assert after["arrays"] == after["compact"] == after["complete"]
        movie = {n: c.get(f"/movies/{first}").get_json() for n, c in clients.items()}
        assert movie["arrays"] == movie["compact"] == movie["complete"]
        with loaded.connect() as conn:
            from recsys.db.schema import Score

            count = conn.execute(select(func.count()).where(Score.movie_id == first)).scalar()
        assert movie["compact"]["ratings"] == count
    finally:
        for app in apps.values():
            app.extensions["recsys"].cache.stop()


def test_workers_start_from_the_masters_read_model_and_catch_up(loaded: Engine,
                                                                 api_data: datasets.Dataset,
                                                                 api_model: Any,
                                                                 tmp_path: Path) -> None:
    """gunicorn's master reads the read model once; a worker starting from it serves it as is
    when nothing changed, applies ratings stored since, and reloads after any other change."""
    from conftest import serve_world

    from recsys.api import create_app
    from recsys.db.schema import Score
    from recsys.readmodel import preload_snapshot

    world = serve_world(loaded, api_data, api_model, tmp_path)
    url = world["settings"].database_url
    assert preload_snapshot("sqlite:///" + str(tmp_path / "nothing" / "here.db"), None) is None

    def started_from(snapshot: Any) -> Any:
        app = create_app(**world, snapshot=snapshot)
        app.extensions["recsys"].cache.stop()
        return app

    unchanged = preload_snapshot(url, None)
    assert unchanged is not None and unchanged.fingerprint[0] == len(api_data.scores)
    app = started_from(unchanged)
    assert app.extensions["recsys"].cache.snapshot is unchanged
    # a rating stored between the master's read and the worker's start is applied
    user = int(api_data.users["id"].iloc[0])
    stale = preload_snapshot(url, None)
    top = app.test_client().get(f"/recommendations?user_id={user}&k=5").get_json()
    movie = top["recommendations"][0]["movie_id"]
    posted = app.test_client().post("/scores", json={"user_id": user, "movie_id": movie,
                                                     "rating": 5})
    assert posted.status_code == 201, posted.get_json()
    caught_up = started_from(stale)
    assert caught_up.extensions["recsys"].cache.snapshot is stale
    assert movie in stale.rated[user] and stale.fingerprint[0] == len(api_data.scores) + 1
    after = caught_up.test_client().get(f"/recommendations?user_id={user}&k=5").get_json()
    assert movie not in [r["movie_id"] for r in after["recommendations"]]
    # a deletion is not an append: the worker reads everything again
    older = preload_snapshot(url, None)
    with loaded.begin() as conn:
        conn.execute(Score.__table__.delete().where(Score.id == posted.get_json()["id"]))
    reloaded = started_from(older).extensions["recsys"].cache.snapshot
    assert reloaded is not older and movie not in reloaded.rated.get(user, set())


# -- batches and scale rules -------------------------------------------------------------------


def test_score_batches_shrink_with_the_catalogue_and_give_the_same_lists(
        api_data: datasets.Dataset, api_model: Any) -> None:
    users = api_data.users["id"].to_numpy()
    default = api_model.recommend_many(users, 5)
    small = api_model.recommend_many(users, 5, batch=3)
    pd.testing.assert_frame_equal(default, small)


def test_scale_rules_leave_movielens_100k_alone_and_adapt_larger_data() -> None:
    config = ModelConfig()
    same, notes = config.adapted(100_000, 1_682)
    assert same == config and notes == []
    big, notes = config.adapted(25_000_000, 62_000)
    assert not big.implicit and big.ensemble == 1 and big.batch_size > config.batch_size
    assert not big.blend and config.blend
    # the ranking as the scale benchmarks measured it: EASE + 0.3 x rating, no iALS
    assert (big.ials, big.rank_liking, big.rank_blend) == (0, False, 0.3) and config.ials
    assert big.ranker_l2_search and not config.ranker_l2_search
    assert big.learning_rate > config.learning_rate and len(notes) == 7
    assert 3 <= big.max_epochs < config.max_epochs
    steps = 25_000_000 * (1 - config.validation_fraction) / big.batch_size
    assert steps <= 1_000 or big.batch_size == 16_384


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
