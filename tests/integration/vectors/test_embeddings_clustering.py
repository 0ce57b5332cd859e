"""Embeddings stage (indexing, similar movies) and k-means clusters stored in the database,
plus the CLI chain ingest -> train -> index -> similar -> cluster on SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from recsys import datasets, db
from recsys.db.schema import Cluster, UserCluster
from recsys.models import ModelConfig, Recommender
from recsys.predictions.sharding import Shard
from recsys.vectors import clustering, embeddings
from recsys.vectors.local import LocalVectorStore

QUICK = ModelConfig(max_epochs=8, ensemble=1, seed=3)


@pytest.fixture(scope="module")
def data() -> datasets.Dataset:
    return datasets.synthetic(n_users=60, n_movies=80, ratings_per_user=20, seed=5)


@pytest.fixture(scope="module")
def model(data: datasets.Dataset) -> Recommender:
    return Recommender(QUICK).fit(data.scores, data)


@pytest.mark.training
def test_index_all_is_idempotent(data: datasets.Dataset, model: Recommender,
                                 tmp_path: Path) -> None:
    store = LocalVectorStore(tmp_path)
    first = embeddings.index_all(data, store, model)
    before = embeddings.similar_movies(store, 1, k=5)
    second = embeddings.index_all(data, store, model)
    assert first == second == {"movies_content": 80, "users_content": 60,
                               "movies_learned": 80, "users_learned": 60}
    pd.testing.assert_frame_equal(before, embeddings.similar_movies(store, 1, k=5))
    record = store.get("movies_learned", 3)
    np.testing.assert_allclose(record.vector, model.movie_embeddings().loc[3].to_numpy(),
                               rtol=1e-6)
    assert record.metadata["title"] == data.movies.set_index("id").loc[3, "title"]


@pytest.mark.training
def test_content_indexes_exist_before_training(data: datasets.Dataset, tmp_path: Path) -> None:
    store = LocalVectorStore(tmp_path)
    counts = embeddings.index_all(data, store, model=None)
    assert set(counts) == {"movies_content", "users_content"}
    table = embeddings.similar_movies(store, 2, k=5, kind="content")
    assert len(table) == 5
    with pytest.raises(LookupError):
        embeddings.similar_movies(store, 2, k=5, kind="learned")


@pytest.mark.training
@pytest.mark.parametrize("kind", ["learned", "content"])
def test_similar_movies_never_returns_the_query(data: datasets.Dataset, model: Recommender,
                                                tmp_path: Path, kind: str) -> None:
    store = LocalVectorStore(tmp_path)
    embeddings.index_all(data, store, model)
    for movie_id in data.movies["id"]:
        table = embeddings.similar_movies(store, int(movie_id), k=10, kind=kind)
        assert int(movie_id) not in set(table["movie_id"])
        assert len(table) == 10 and table["similarity"].is_monotonic_decreasing
    with pytest.raises(embeddings.MovieNotIndexed, match="movie 99999"):
        embeddings.similar_movies(store, 99999, k=5, kind=kind)


@pytest.mark.training
def test_content_neighbours_share_genres_more_than_random(data: datasets.Dataset,
                                                          model: Recommender,
                                                          tmp_path: Path) -> None:
    store = LocalVectorStore(tmp_path)
    embeddings.index_all(data, store, model)
    quality = embeddings.neighbour_quality(data, store, k=5, min_ratings=5).set_index(
        "neighbours")
    assert set(quality.index) == {"learned", "content", "random"}
    assert quality.loc["content", "genre_agreement"] > quality.loc["random", "genre_agreement"]


@pytest.mark.training
def test_clusters_are_stored_and_profiles_match_the_database(
        data: datasets.Dataset, model: Recommender, engine: Engine) -> None:
    db.ingest(data, engine)
    result = clustering.cluster_users(model.user_embeddings(), max_k=5, seed=1)
    assert 2 <= result.k <= 5 and len(result.selection) == 4
    table = clustering.profiles(data, result)
    clustering.store(engine, result, table, "test-version")
    with engine.connect() as conn:
        stored = dict(conn.execute(select(UserCluster.user_id, UserCluster.cluster_id)).all())
        sizes = dict(conn.execute(select(UserCluster.cluster_id, func.count())
                                  .group_by(UserCluster.cluster_id)).all())
        clusters = conn.execute(select(Cluster.id, Cluster.size, Cluster.profile,
                                       Cluster.description)).all()
    assert stored == result.assignments.to_dict()
    assert set(stored) == set(data.users["id"])
    for cluster_id, size, profile, description in clusters:
        assert sizes[cluster_id] == size
        parsed = json.loads(profile)
        members = [u for u, c in stored.items() if c == cluster_id]
        women = data.persons.set_index("id").loc[members, "gender"].eq("F").mean()
        assert parsed["female_share"] == pytest.approx(women, abs=1e-3)
        assert description.startswith(f"{size} users")
    # sizes are in decreasing order of cluster id
    assert [sizes[c] for c in sorted(sizes)] == sorted(sizes.values(), reverse=True)
    # storing again replaces, never duplicates
    clustering.store(engine, result, table, "test-version")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(UserCluster)).scalar_one() == 60


@pytest.mark.training
def test_opensearch_kmeans_request_shape(model: Recommender) -> None:
    vectors = model.user_embeddings().head(5)
    body = clustering.kmeans_request(vectors, k=3, iterations=7)
    assert body["parameters"] == {"centroids": 3, "iterations": 7, "distance_type": "COSINE"}
    assert len(body["input_data"]["column_metas"]) == vectors.shape[1]
    assert body["input_data"]["column_metas"][0] == {"name": "e0", "column_type": "DOUBLE"}
    assert len(body["input_data"]["rows"]) == 5

    class Transport:
        def perform_request(self, method: str, url: str, body: dict) -> dict:
            assert (method, url) == ("POST", "/_plugins/_ml/_train_predict/kmeans")
            rows = [{"values": [{"column_type": "INTEGER", "value": i % 2}]}
                    for i in range(len(body["input_data"]["rows"]))]
            return {"status": "COMPLETED", "prediction_result": {
                "column_metas": [{"name": "ClusterID", "column_type": "INTEGER"}], "rows": rows}}

    class Client:
        transport = Transport()

    result = clustering.cluster_users(model.user_embeddings(), k=2, backend="opensearch",
                                      client=Client())
    assert result.backend == "opensearch" and set(result.assignments) == {0, 1}


@pytest.mark.training
def test_cli_chain_on_sqlite(data: datasets.Dataset, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    datasets.save(data, data_dir)
    env = {"RECSYS_DATA_DIR": str(data_dir), "RECSYS_VAR_DIR": str(tmp_path / "var"),
           "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "recsys.cli", *args], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done

    run("ingest")
    trained = run("train", "--epochs", "5", "--quiet")
    assert "Saved model" in trained.stdout
    meta = json.loads(next((tmp_path / "var" / "model").glob("*/meta.json")).read_text())
    results = meta["metrics"]["holdout"]["results"]
    assert results["model"]["rmse"] > 0
    # the same networks without the rating blend are measured beside it, at no training cost
    assert list(results)[:2] == ["model", "previous"]
    assert 0 < results["previous"]["rmse"] != results["model"]["rmse"]
    assert results["previous"]["fit_seconds"] is None  # not fitted apart: no time of its own
    assert results["model"]["fit_seconds"] > 0
    indexed = run("index")
    assert "movies_learned" in indexed.stdout
    similar = json.loads(run("similar", "1", "--k", "4", "--json").stdout)
    assert len(similar) == 4 and 1 not in [r["movie_id"] for r in similar]
    clustered = run("cluster", "--k", "3")
    assert "3 clusters" in clustered.stdout
    bad = subprocess.run([sys.executable, "-m", "recsys.cli", "similar", "424242"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "movie 424242 is not in" in bad.stderr


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
