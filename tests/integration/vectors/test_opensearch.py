"""The OpenSearch backend against a real OpenSearch 2.19 node (k-NN and ML Commons plugins)
that the test run starts (tests/conftest.py): the project's indexes, similarity scores equal
to exact cosine, a node restarted in the middle of a run (the API answers 503 meanwhile and
recovers by itself), the secured variant (TLS, a wrong password is a clear error), and
k-means through ML Commons. Two checks need no server: the documented score formulas and a
cluster that cannot be reached."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recsys import datasets
from recsys.api import create_app
from recsys.config import Settings
from recsys.vectors import clustering, embeddings
from recsys.vectors.base import VectorStoreUnavailable
from recsys.vectors.opensearch import OpenSearchVectorStore, make_client, similarity

pytestmark = pytest.mark.opensearch


@pytest.fixture
def store(opensearch_node: Any) -> Iterator[OpenSearchVectorStore]:
    backend = OpenSearchVectorStore(make_client(opensearch_node.url),
                                    prefix=f"recsys-t{uuid.uuid4().hex[:8]}-",
                                    url=opensearch_node.url)
    yield backend
    for name in embeddings.INDEXES.values():
        try:
            backend.drop_index(name)
        except VectorStoreUnavailable:
            pass


def test_the_project_indexes_on_a_real_node(store: OpenSearchVectorStore,
                                            api_data: datasets.Dataset,
                                            api_model: Any) -> None:
    counts = embeddings.index_all(api_data, store, api_model)
    assert counts == {"movies_content": 70, "users_content": 51, "movies_learned": 70,
                      "users_learned": 51}
    mapping = store.client.indices.get_mapping(index=store._index("movies_learned"))
    vector = next(iter(mapping.values()))["mappings"]["properties"]["vector"]
    assert vector["type"] == "knn_vector" and vector["method"]["engine"] == "lucene"
    records = embeddings.similar_records(store, 7, k=5, kind="learned")
    assert len(records) == 5 and 7 not in [r["movie_id"] for r in records]
    # a rebuild replaces: same counts, new index identity
    before = store.version()
    embeddings.index_all(api_data, store, api_model)
    assert store.count("movies_learned") == 70 and store.version() != before


def test_similarities_equal_exact_cosine(store: OpenSearchVectorStore,
                                         api_model: Any) -> None:
    vectors = api_model.movie_embeddings()
    store.create_index("movies_learned", vectors.shape[1], "cosine")
    store.upsert("movies_learned", vectors.index.to_numpy(), vectors.to_numpy(np.float32))
    array = vectors.to_numpy(np.float64)
    normed = array / np.linalg.norm(array, axis=1, keepdims=True)
    query = 3
    exact = pd.Series(normed @ normed[vectors.index.get_loc(query)], index=vectors.index)
    exact = exact.drop(query).sort_values(ascending=False)
    hits = store.knn("movies_learned", array[vectors.index.get_loc(query)], k=10,
                     exclude=[query])
    assert [h.id for h in hits] == exact.index[:10].tolist()  # 70 vectors: HNSW is exact
    np.testing.assert_allclose([h.score for h in hits], exact.iloc[:10], atol=1e-4)


def test_filters_run_inside_the_graph_search(store: OpenSearchVectorStore) -> None:
    rng = np.random.default_rng(1)
    store.create_index("movies_content", 6, "cosine")
    ids = np.arange(1, 301)
    meta = [{"year": 1950 + int(i) % 50, "genres": ["Drama"] if i % 10 == 0 else ["Comedy"]}
            for i in ids]
    store.upsert("movies_content", ids, rng.normal(size=(300, 6)), meta)
    hits = store.knn("movies_content", rng.normal(size=6), k=10,
                     filter={"genres": "Drama", "year": {"gte": 1960, "lte": 1990}})
    assert len(hits) == 10  # all ten exist and the efficient filter finds them
    assert all(h.metadata["genres"] == ["Drama"] and 1960 <= h.metadata["year"] <= 1990
               for h in hits)


def test_a_restarted_node_gives_503_then_the_api_recovers(
        opensearch_node: Any, api_data: datasets.Dataset, api_model: Any,
        tmp_path: Path) -> None:
    from support import serve_world

    from recsys import db

    engine = db.make_engine(f"sqlite:///{tmp_path / 'api.db'}")  # the store is the subject
    world = serve_world(engine, api_data, api_model, tmp_path)
    store = OpenSearchVectorStore(make_client(opensearch_node.url, timeout=3),
                                  prefix=f"recsys-r{uuid.uuid4().hex[:8]}-",
                                  url=opensearch_node.url)
    embeddings.index_all(api_data, store, api_model)
    world["store"] = store
    app = create_app(**world)
    app.extensions["recsys"].cache.refresh_seconds = 0.2
    client = app.test_client()
    url = "/similar_movies?movie_id=7&k=5&kind=learned"
    assert client.get(url).status_code == 200
    opensearch_node.stop(keep=True)
    try:
        app.extensions["recsys"].cache.refresh()  # the store's identity changes: no cache
        down = client.get(url)
        assert down.status_code == 503
        assert down.get_json()["detail"] == ("the vector store is unavailable; try again "
                                             "shortly")
        assert client.get("/health").get_json()["vector_store"]["status"] == "down"
        assert client.get("/movies/7").status_code == 200  # the rest keeps working
    finally:
        opensearch_node.start()
    deadline = time.monotonic() + 30
    while client.get(url).status_code != 200:  # no restart of the API needed
        assert time.monotonic() < deadline, "the API did not recover"
        time.sleep(0.5)
    app.extensions["recsys"].cache.stop()


def test_kmeans_through_ml_commons(opensearch_node: Any, api_model: Any) -> None:
    vectors = api_model.user_embeddings()
    client = make_client(opensearch_node.url, timeout=60)
    result = clustering.cluster_users(vectors, k=3, max_k=4, backend="opensearch",
                                      client=client)
    # ML Commons may leave a centroid empty: the clusters found are numbered 0..k-1
    assert result.backend == "opensearch" and 2 <= result.k <= 3
    assert set(result.assignments.unique()) == set(range(result.k))
    assert result.assignments.index.tolist() == vectors.index.tolist()
    assert np.isfinite(result.distances).all()
    # the clusters ML Commons finds are about as tight as scikit-learn's on the same vectors
    local = clustering.cluster_users(vectors, k=3, max_k=4, backend="sklearn")
    assert result.distances.mean() <= 1.5 * local.distances.mean()


@pytest.mark.slow
def test_the_secured_node_refuses_a_wrong_password(tmp_path: Path) -> None:
    from recsys.testing.opensearch import OpenSearchNode
    from recsys.vectors import open_store

    password = "Recsys-Test-2026!"
    with OpenSearchNode(security=True, password=password) as node:
        assert node.url.startswith("https://")
        base = Settings(data_dir=tmp_path, var_dir=tmp_path, database_url="sqlite://",
                        vector_backend="opensearch", opensearch_url=node.url,
                        opensearch_user="admin", opensearch_verify_certs=False)
        good = open_store(base.replace(opensearch_password=password))
        good.create_index("check", 3, "cosine")
        assert good.exists("check")
        wrong = open_store(base.replace(opensearch_password="not-the-password"))
        with pytest.raises(VectorStoreUnavailable, match="refused the credentials"):
            wrong.exists("check")
        assert "credentials" in (wrong.problem() or "")
        strict = open_store(base.replace(opensearch_password=password,
                                         opensearch_verify_certs=True))
        with pytest.raises(VectorStoreUnavailable, match="VERIFY_CERTS=false"):
            strict.exists("check")


def test_score_conversions_follow_the_documented_formulas() -> None:
    # cosinesimil: score = (2 - d) / 2 with d = 1 - cos
    for cos in (-1.0, 0.0, 0.3, 1.0):
        assert similarity((2 - (1 - cos)) / 2, "cosine") == pytest.approx(cos)
    # lucene innerproduct: score = d + 1 if d > 0 else 1 / (1 - d)
    for dot in (-3.0, -0.5, 0.5, 4.0):
        score = dot + 1 if dot > 0 else 1 / (1 - dot)
        assert similarity(score, "inner_product") == pytest.approx(dot)


def test_unreachable_cluster_is_reported_as_unavailable() -> None:
    from recsys.testing.ports import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    down = OpenSearchVectorStore(make_client(url, timeout=2, max_retries=0), url=url)
    with pytest.raises(VectorStoreUnavailable, match="unreachable at http://127.0.0.1"):
        down.count("movies")
    assert not down.ping() and "unreachable" in (down.problem() or "")
