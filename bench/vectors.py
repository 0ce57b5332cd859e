"""Benchmark: vector-store query latency on the real data (similar_movies over every movie)
and on synthetic 64-d vectors (by default 100,000 and 1,000,000), with recall@10 against exact
search, the index build time, and the exact-search latency for comparison.

Backends: ``local`` (embedded: exact NumPy below 50,000 vectors, faiss HNSW above) or
``opensearch`` (a real OpenSearch 2.19 node with the k-NN plugin, lucene HNSW, started here
on loopback with a 1 GB heap; queries go through opensearch-py, JSON over HTTP included).

Usage: RECSYS_DATA_DIR=../shared/datasets .venv/bin/python bench/vectors.py
       [--backend local|opensearch] [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from recsys import datasets
from recsys.models import ModelConfig, Recommender
from recsys.vectors import embeddings
from recsys.vectors.base import VectorStore
from recsys.vectors.local import LocalVectorStore


def percentiles(ms: list[float]) -> tuple[float, float]:
    ms = sorted(ms)
    return statistics.median(ms), ms[min(len(ms) - 1, int(0.99 * len(ms)))]


def real_data(store: VectorStore, reopen: Callable[[], VectorStore]) -> list[str]:
    data = datasets.load(Path(os.environ.get("RECSYS_DATA_DIR", "datasets"))).dataset
    model = Recommender(ModelConfig()).fit(data.scores, data)
    start = time.perf_counter()
    embeddings.index_all(data, store, model)
    index_s = time.perf_counter() - start
    start = time.perf_counter()
    fresh = reopen()
    fresh.count("movies_learned")
    open_s = time.perf_counter() - start
    rows = []
    for kind in ("learned", "content"):
        ids = data.movies["id"].to_numpy()
        for m in np.concatenate([ids, ids]):  # warm-up: two passes (steady state: the
            embeddings.similar_movies(fresh, int(m), 10, kind)  # JVM warm, records cached)
        ms = []
        for m in ids:
            t0 = time.perf_counter()
            embeddings.similar_movies(fresh, int(m), 10, kind)
            ms.append((time.perf_counter() - t0) * 1000)
        p50, p99 = percentiles(ms)
        dim = model.movie_embeddings().shape[1] if kind == "learned" else 21
        rows.append(f"| similar_movies, {kind} vectors ({len(ids)} x {dim}-d) | "
                    f"{p50:.3f} | {p99:.3f} |")
    quality = embeddings.neighbour_quality(data, fresh)
    return [f"indexing the four indexes (content and learned, movies and users): "
            f"{index_s:.2f} s; opening a store and counting an index: {open_s * 1000:.1f} ms",
            "", "| query | p50 (ms) | p99 (ms) |", "|---|---|---|", *rows, "",
            "Neighbour quality (movies with >= 20 ratings, k = 10):", "",
            "| neighbours | co-rating Jaccard | genre agreement |", "|---|---|---|",
            *[f"| {r.neighbours} | {r.co_rating_jaccard:.4f} | {r.genre_agreement:.4f} |"
              for r in quality.itertuples()]]


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Clustered synthetic vectors (like real embeddings) rather than uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(1000, dim)).astype(np.float32)
    return centres[rng.integers(0, 1000, n)] + 0.6 * rng.normal(size=(n, dim)).astype(
        np.float32)


def synthetic(store: VectorStore, n: int, dim: int = 64, queries: int = 1000) -> list[str]:
    vectors = clustered(n, dim)
    ids = np.arange(1, n + 1)
    name = f"big{n}"
    store.create_index(name, dim)
    start = time.perf_counter()
    store.upsert(name, ids, vectors)
    build_s = time.perf_counter() - start
    picks = np.random.default_rng(1).integers(0, n, queries)
    for q in picks[:20]:
        store.knn(name, vectors[q], k=10, exclude=[int(ids[q])])
    ms, results = [], {}
    for q in picks:
        t0 = time.perf_counter()
        hits = store.knn(name, vectors[q], k=10, exclude=[int(ids[q])])
        ms.append((time.perf_counter() - t0) * 1000)
        results[int(q)] = {h.id for h in hits}
    p50, p99 = percentiles(ms)
    normed = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    exact_ms, recall = [], []
    for q in picks[:100]:
        t0 = time.perf_counter()
        sims = normed @ normed[q]
        sims[q] = -np.inf
        top = np.argpartition(-sims, 10)[:10]
        exact_ms.append((time.perf_counter() - t0) * 1000)
        recall.append(len(results[int(q)] & set(ids[top].tolist())) / 10)
    e50, e99 = percentiles(exact_ms)
    store.drop_index(name)
    return [f"| {n:,} | {build_s:.1f} | {p50:.2f} | {p99:.2f} | {np.mean(recall):.3f} | "
            f"{e50:.1f} / {e99:.1f} |"]


def opensearch(stack: ExitStack) -> tuple[Callable[[], VectorStore], str]:
    from recsys.testing.opensearch import OpenSearchNode
    from recsys.vectors.opensearch import OpenSearchVectorStore, make_client

    node = stack.enter_context(OpenSearchNode(heap_mb=1024))
    return (lambda: OpenSearchVectorStore(make_client(node.url, timeout=120), url=node.url),
            "OpenSearch 2.19.1 (k-NN plugin, lucene HNSW m=16, ef_construction=128), one node, "
            "1 GB heap, opensearch-py over loopback")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["local", "opensearch"], default="local")
    parser.add_argument("--sizes", default="100000,1000000",
                        help="comma-separated numbers of synthetic vectors")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}\n")
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        if args.backend == "opensearch":
            factory, label = opensearch(stack)
        else:
            def factory() -> Any:
                return LocalVectorStore(Path(tmp) / "store")
            label = ("local backend (exact NumPy below 50,000 vectors, faiss HNSW M=32, "
                     "efConstruction=80, efSearch=128 above)")
        print(f"backend: {label}\n")
        print("\n".join(real_data(factory(), factory)))
        print("\nSynthetic clustered 64-d vectors, knn k=10 excluding the query id, 1000 "
              "queries; recall@10 against exact cosine on 100 of them:\n")
        print("| vectors | index build (s) | p50 (ms) | p99 (ms) | recall@10 | exact NumPy "
              "p50 / p99 (ms) |")
        print("|---|---|---|---|---|---|")
        for n in (int(v) for v in args.sizes.split(",") if v):
            print("\n".join(synthetic(factory(), n)), flush=True)


if __name__ == "__main__":
    main()
