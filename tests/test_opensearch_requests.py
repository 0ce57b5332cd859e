"""Request-shape tests of the OpenSearch backend, with no OpenSearch server.

These are NOT integration tests. The real opensearch-py client runs with a recording
connection in place of HTTP; each test checks that the method, path and JSON body sent are
the ones the k-NN plugin documents (index mapping, bulk, refresh, knn query with an efficient
filter), and that documented responses are read back correctly (score conversion, 404s,
connection failures). Against a real cluster, the conformance suite in tests/test_vectors.py
runs too when RECSYS_OPENSEARCH_URL is set.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from opensearchpy import Connection, OpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError

from recsys.vectors.base import IndexNotFound, VectorStoreUnavailable
from recsys.vectors.opensearch import OpenSearchVectorStore, similarity

Responder = Callable[[str, str, Any], tuple[int, Any]]


class RecordingConnection(Connection):
    """An opensearch-py connection that records requests and answers from a responder."""

    log: list[tuple[str, str, Any]] = []
    responder: Responder = staticmethod(lambda method, url, body: (200, {}))

    def perform_request(self, method: str, url: str, params: Any = None, body: Any = None,
                        timeout: Any = None, ignore: Any = (), headers: Any = None) -> Any:
        text = body.decode() if isinstance(body, bytes) else body
        if text and url.endswith("/_bulk"):
            parsed: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            parsed = json.loads(text) if text else None
        RecordingConnection.log.append((method, url, parsed))
        status, data = RecordingConnection.responder(method, url, parsed)
        raw = json.dumps(data)
        if not 200 <= status < 300 and status not in ignore:
            self._raise_error(status, raw)
        return status, {"content-type": "application/json"}, raw


MAPPING = {"recsys-movies": {"mappings": {"properties": {"vector": {
    "type": "knn_vector", "dimension": 3,
    "method": {"name": "hnsw", "space_type": "cosinesimil", "engine": "lucene"}}}}}}


def _responder(method: str, url: str, body: Any) -> tuple[int, Any]:
    if method == "HEAD":
        return 404, {}
    if url.endswith("/_mapping"):
        return 200, MAPPING
    if url.endswith("/_bulk"):
        items = [{"index": {"_id": b["index"]["_id"], "status": 201}}
                 for b in body if "index" in b]
        return 200, {"took": 1, "errors": False, "items": items}
    if url.endswith("/_search"):
        return 200, {"hits": {"hits": [
            {"_id": "7", "_score": 0.95, "_source": {"item_id": 7, "metadata": {"t": "a"}}},
            {"_id": "9", "_score": 0.6, "_source": {"item_id": 9, "metadata": {}}}]}}
    if method == "GET" and "/_doc/" in url:
        return 404, {"_index": "recsys-movies", "_id": url.rsplit("/", 1)[1], "found": False}
    return 200, {"acknowledged": True}


@pytest.fixture
def store() -> OpenSearchVectorStore:
    RecordingConnection.log = []
    RecordingConnection.responder = staticmethod(_responder)
    client = OpenSearch(hosts=["http://opensearch.invalid:9200"],
                        connection_class=RecordingConnection)
    return OpenSearchVectorStore(client)


def test_create_index_sends_the_documented_knn_mapping(store: OpenSearchVectorStore) -> None:
    store.create_index("movies", 3, "cosine")
    method, url, body = RecordingConnection.log[-1]
    assert (method, url) == ("PUT", "/recsys-movies")
    assert body["settings"]["index"]["knn"] is True
    field = body["mappings"]["properties"]["vector"]
    assert field["type"] == "knn_vector" and field["dimension"] == 3
    assert field["method"]["name"] == "hnsw"
    assert field["method"]["engine"] == "lucene"  # not nmslib: deprecated in OpenSearch 3
    assert field["method"]["space_type"] == "cosinesimil"
    assert set(field["method"]["parameters"]) == {"ef_construction", "m"}
    template = body["mappings"]["dynamic_templates"][0]["strings_as_keywords"]
    assert template["mapping"] == {"type": "keyword"}


def test_inner_product_maps_to_innerproduct_space(store: OpenSearchVectorStore) -> None:
    store.create_index("users", 4, "inner_product")
    field = RecordingConnection.log[-1][2]["mappings"]["properties"]["vector"]
    assert field["method"]["space_type"] == "innerproduct"


def test_upsert_uses_bulk_then_refresh(store: OpenSearchVectorStore) -> None:
    written = store.upsert("movies", [7, 9], np.array([[1, 0, 0], [0, 1, 0]], np.float32),
                           [{"title": "Schindler's List", "genres": ["Drama", "War"]}, {}])
    assert written == 2
    calls = [(m, u) for m, u, _ in RecordingConnection.log]
    assert calls == [("GET", "/recsys-movies/_mapping"), ("POST", "/_bulk"),
                     ("POST", "/recsys-movies/_refresh")]
    bulk = RecordingConnection.log[1][2]
    assert bulk[0] == {"index": {"_index": "recsys-movies", "_id": "7"}}
    assert bulk[1] == {"item_id": 7, "vector": [1.0, 0.0, 0.0],
                       "metadata": {"title": "Schindler's List", "genres": ["Drama", "War"]}}
    assert bulk[2]["index"]["_id"] == "9"


def test_knn_query_has_efficient_filter_and_exclusions(store: OpenSearchVectorStore) -> None:
    hits = store.knn("movies", np.array([0.5, 0.5, 0.0], np.float32), k=2, exclude=[1],
                     filter={"genres": "Drama", "year": {"gte": 1990},
                             "title": "'); DROP TABLE movies;--"})
    method, url, body = RecordingConnection.log[-1]
    assert (method, url) == ("POST", "/recsys-movies/_search")
    assert body["size"] == 2 and body["_source"] == {"excludes": ["vector"]}
    knn = body["query"]["knn"]["vector"]
    assert knn["vector"] == [0.5, 0.5, 0.0] and knn["k"] == 2
    bool_query = knn["filter"]["bool"]
    assert {"term": {"metadata.genres": "Drama"}} in bool_query["must"]
    assert {"range": {"metadata.year": {"gte": 1990}}} in bool_query["must"]
    # input stays a JSON value inside the structure, never query text
    assert {"term": {"metadata.title": "'); DROP TABLE movies;--"}} in bool_query["must"]
    assert bool_query["must_not"] == [{"ids": {"values": ["1"]}}]
    assert [h.id for h in hits] == [7, 9]
    assert hits[0].score == pytest.approx(0.9)  # cosine = 2 * score - 1
    assert hits[0].metadata == {"t": "a"}


def test_knn_without_filter_sends_no_filter(store: OpenSearchVectorStore) -> None:
    store.knn("movies", np.array([1, 0, 0], np.float32), k=5)
    assert "filter" not in RecordingConnection.log[-1][2]["query"]["knn"]["vector"]


def test_score_conversions_follow_the_documented_formulas() -> None:
    # cosinesimil: score = (2 - d) / 2 with d = 1 - cos
    for cos in (-1.0, 0.0, 0.3, 1.0):
        assert similarity((2 - (1 - cos)) / 2, "cosine") == pytest.approx(cos)
    # lucene innerproduct: score = d + 1 if d > 0 else 1 / (1 - d)
    for dot in (-3.0, -0.5, 0.5, 4.0):
        score = dot + 1 if dot > 0 else 1 / (1 - dot)
        assert similarity(score, "inner_product") == pytest.approx(dot)


def test_missing_document_is_none_and_missing_index_raises(store: OpenSearchVectorStore) -> None:
    RecordingConnection.responder = staticmethod(
        lambda method, url, body: (200, {}) if method == "HEAD" else _responder(method, url, body))
    assert store.get("movies", 12345) is None
    RecordingConnection.responder = staticmethod(_responder)  # HEAD -> 404: no index
    with pytest.raises(IndexNotFound):
        store.get("movies", 12345)


def test_unreachable_cluster_is_reported_as_unavailable() -> None:
    def refuse(method: str, url: str, body: Any) -> tuple[int, Any]:
        raise OSConnectionError("N/A", "connection refused", None)

    RecordingConnection.responder = staticmethod(refuse)
    client = OpenSearch(hosts=["http://opensearch.invalid:9200"],
                        connection_class=RecordingConnection, max_retries=0)
    down = OpenSearchVectorStore(client)
    with pytest.raises(VectorStoreUnavailable, match="unreachable"):
        down.count("movies")
    assert down.ping() is False
