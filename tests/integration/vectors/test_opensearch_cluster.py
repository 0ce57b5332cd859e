"""OpenSearch as a cluster (issue "Past one machine"): three nodes on loopback, indexes with
a replica per shard; one node killed while similar movies are being served: the searches go
on through the other nodes with the same answers, no vector is lost, and the node rejoins."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from recsys import datasets
from recsys.testing.opensearch_cluster import OpenSearchCluster
from recsys.vectors import embeddings
from recsys.vectors.opensearch import OpenSearchVectorStore, make_client

pytestmark = pytest.mark.opensearch


@pytest.fixture(scope="module")
def cluster() -> Iterator[OpenSearchCluster]:
    with OpenSearchCluster(nodes=3, heap_mb=256) as started:
        yield started


def test_a_killed_node_loses_no_vector_and_searches_go_on(
        cluster: OpenSearchCluster, api_data: datasets.Dataset, api_model: Any) -> None:
    prefix = f"recsys-cluster-{uuid.uuid4().hex[:8]}-"
    store = OpenSearchVectorStore(make_client(cluster.url, timeout=5), prefix=prefix,
                                  url=cluster.url)
    assert store.replicas() == 1
    written = embeddings.index_all(api_data, store, api_model)
    index = prefix + "movies_learned"
    settings = cluster.request(f"/{index}/_settings")
    assert next(iter(settings.values()))["settings"]["index"]["number_of_replicas"] == "1"
    movies = [int(m) for m in api_data.movies["id"]]
    expected = {m: embeddings.similar_records(store, m, 5) for m in movies}

    stop, answers, failures = threading.Event(), [], []

    def serve(seed: int) -> None:  # what /similar_movies does, as fast as it can
        rng = random.Random(seed)
        while not stop.is_set():
            movie = rng.choice(movies)
            try:
                answers.append((time.monotonic(), movie,
                                embeddings.similar_records(store, movie, 5)))
            except Exception as exc:  # noqa: BLE001 - every failure is counted
                failures.append(exc)

    workers = [threading.Thread(target=serve, args=(seed,)) for seed in range(4)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(2)
        shards = cluster.request(f"/_cat/shards/{index}?format=json")
        primary = next(s["node"] for s in shards if s["prirep"] == "p")
        victim = next(n for n in cluster.nodes if n.name == primary)
        killed_at = time.monotonic()
        victim.kill()  # the node holding the primary copy of the learned movie vectors
        time.sleep(4)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
    after = [(movie, got) for at, movie, got in answers if at > killed_at]
    assert not failures, failures[:3]
    assert len(after) > 20, "searches stopped after the node was killed"
    assert all(got == expected[movie] for movie, got in after)
    assert {name: store.count(name) for name in written} == written  # no vector lost

    victim.launch()  # same data folder and ports: it rejoins
    cluster.wait_green()
    nodes = cluster.request("/_cat/nodes?format=json")
    assert sorted(n["name"] for n in nodes) == sorted(n.name for n in cluster.nodes)
    assert {name: store.count(name) for name in written} == written
    for name in written:
        store.drop_index(name)
