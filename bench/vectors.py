"""Benchmark: vector-store query latency on the real data (similar_movies over every movie)
and on 1,000,000 synthetic 64-d vectors (local backend: faiss HNSW), with recall@10 against
exact search and the exact-search latency for comparison.

Usage: RECSYS_DATA_DIR=../shared/datasets .venv/bin/python bench/vectors.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from recsys import datasets, embeddings
from recsys.models import ModelConfig, Recommender
from recsys.vectors.local import LocalVectorStore


def percentiles(ms: list[float]) -> tuple[float, float]:
    ms = sorted(ms)
    return statistics.median(ms), ms[min(len(ms) - 1, int(0.99 * len(ms)))]


def real_data(tmp: Path) -> list[str]:
    data = datasets.load(Path(os.environ.get("RECSYS_DATA_DIR", "datasets"))).dataset
    model = Recommender(ModelConfig()).fit(data.scores, data)
    store = LocalVectorStore(tmp / "real")
    embeddings.index_all(data, store, model)
    start = time.perf_counter()
    fresh = LocalVectorStore(tmp / "real")
    fresh.count("movies_learned")
    load_s = time.perf_counter() - start
    rows = []
    for kind in ("learned", "content"):
        ids = data.movies["id"].to_numpy()
        for m in ids[:50]:
            embeddings.similar_movies(fresh, int(m), 10, kind)  # warm-up
        ms = []
        for m in ids:
            t0 = time.perf_counter()
            embeddings.similar_movies(fresh, int(m), 10, kind)
            ms.append((time.perf_counter() - t0) * 1000)
        p50, p99 = percentiles(ms)
        dim = fresh.info(embeddings.index_name("movies", kind))["dimension"]
        rows.append(f"| similar_movies, {kind} vectors ({len(ids)} x {dim}-d, exact) | "
                    f"{p50:.3f} | {p99:.3f} |")
    quality = embeddings.neighbour_quality(data, fresh)
    return [f"opening the movies_learned index from disk: {load_s * 1000:.1f} ms", "",
            "| query | p50 (ms) | p99 (ms) |", "|---|---|---|", *rows, "",
            "Neighbour quality (movies with >= 20 ratings, k = 10):", "",
            "| neighbours | co-rating Jaccard | genre agreement |", "|---|---|---|",
            *[f"| {r.neighbours} | {r.co_rating_jaccard:.4f} | {r.genre_agreement:.4f} |"
              for r in quality.itertuples()]]


def million(tmp: Path, n: int, dim: int = 64, queries: int = 1000) -> list[str]:
    rng = np.random.default_rng(0)
    # clustered data (like real embeddings) rather than uniform noise
    centres = rng.normal(size=(1000, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, 1000, n)] + 0.6 * rng.normal(size=(n, dim)).astype(
        np.float32)
    ids = np.arange(1, n + 1)
    store = LocalVectorStore(tmp / "big")
    store.create_index("big", dim)
    start = time.perf_counter()
    store.upsert("big", ids, vectors)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    fresh = LocalVectorStore(tmp / "big")
    fresh.count("big")
    load_s = time.perf_counter() - start
    picks = rng.integers(0, n, queries)
    for q in picks[:20]:
        fresh.knn("big", vectors[q], k=10, exclude=[int(ids[q])])
    ms = []
    results = {}
    for q in picks:
        t0 = time.perf_counter()
        hits = fresh.knn("big", vectors[q], k=10, exclude=[int(ids[q])])
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
    return [f"{n:,} vectors x {dim}-d (clustered synthetic), local backend, faiss HNSW "
            f"(M=32, efConstruction=80, efSearch=128):", "",
            "| measure | value |", "|---|---|",
            f"| build + persist | {build_s:.1f} s |", f"| load from disk | {load_s:.2f} s |",
            f"| knn k=10 (excluding the query id), p50 over {queries} queries | {p50:.3f} ms |",
            f"| knn k=10, p99 | {p99:.3f} ms |",
            f"| recall@10 vs exact (100 queries) | {np.mean(recall):.3f} |",
            f"| exact NumPy search for comparison, p50 / p99 | {e50:.1f} / {e99:.1f} ms |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}\n")
    with tempfile.TemporaryDirectory() as tmp:
        print("\n".join(real_data(Path(tmp))))
        print()
        print("\n".join(million(Path(tmp), args.n)))


if __name__ == "__main__":
    main()
