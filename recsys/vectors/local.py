"""Embedded vector store: NumPy exact search, faiss HNSW for large indexes, persisted files.

Each index lives in ``<root>/<name>/`` as ``ids.npy``, ``vectors.npy``, ``metadata.json`` and
``info.json`` (plus ``hnsw.faiss`` for large indexes), written to a temporary folder and
renamed into place, so a reader never sees half an index.

Search is exact (one matrix-vector product) up to ``exact_limit`` vectors, which for the
1,682 movies is a fraction of a millisecond; above it, a faiss HNSW graph (inner product on
normalised vectors for cosine) answers in well under a millisecond at a million vectors, with
the recall measured in bench/vectors.py. The limit is 20,000: the exact product reads every
vector (8 MB at MovieLens 25M's 62,423 movies), which under an API's load on 2 cores cost
2-3 ms a query and held /similar_movies to about 250 requests per second (bench/RESULTS.md,
"Scale").
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recsys.vectors.base import (
    Filter,
    Hit,
    IndexNotFound,
    Record,
    VectorStoreError,
    check_metric,
    check_vectors,
    matches,
)

EXACT_LIMIT = 20_000


class _Index:
    """One index in memory."""

    def __init__(self, dimension: int, metric: str) -> None:
        self.dimension = dimension
        self.metric = metric
        self.ids = np.empty(0, dtype=np.int64)
        self.vectors = np.empty((0, dimension), dtype=np.float32)  # as stored
        self.search = np.empty((0, dimension), dtype=np.float32)  # normalised for cosine
        self.metadata: list[dict[str, Any]] = []
        self.position: dict[int, int] = {}
        self.hnsw: Any = None

    def prepare(self, vectors: np.ndarray) -> np.ndarray:
        if self.metric == "cosine":
            return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors


class LocalVectorStore:
    """The embedded backend (``RECSYS_VECTOR_BACKEND=local``).

    Args:
        root: folder for persisted indexes (``None`` keeps everything in memory).
        exact_limit: above this many vectors, queries go through an HNSW graph.
        hnsw_m / ef_construction / ef_search: HNSW parameters.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, exact_limit: int = EXACT_LIMIT,
                 hnsw_m: int = 32, ef_construction: int = 80, ef_search: int = 128) -> None:
        self.root = Path(root) if root is not None else None
        self.exact_limit = exact_limit
        self.hnsw_m, self.ef_construction, self.ef_search = hnsw_m, ef_construction, ef_search
        self._indexes: dict[str, _Index] = {}
        self._seen: dict[str, int] = {}
        self._lock = threading.RLock()

    # -- lifecycle -----------------------------------------------------------------------------
    def _folder(self, name: str) -> Path | None:
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            raise VectorStoreError(f"index names use letters, digits, - and _: got {name!r}")
        return None if self.root is None else self.root / name

    def _load(self, name: str) -> _Index:
        with self._lock:
            if name in self._indexes:
                return self._indexes[name]
            folder = self._folder(name)
            if folder is None or not (folder / "info.json").is_file():
                raise IndexNotFound(f"vector index {name!r} does not exist: run `recsys index`")
            info = json.loads((folder / "info.json").read_text())
            index = _Index(int(info["dimension"]), info["metric"])
            index.ids = np.load(folder / "ids.npy")
            index.vectors = np.load(folder / "vectors.npy")
            index.search = index.prepare(index.vectors) if len(index.ids) else index.vectors
            index.metadata = json.loads((folder / "metadata.json").read_text())
            index.position = {int(i): p for p, i in enumerate(index.ids)}
            if (folder / "hnsw.faiss").is_file():
                import faiss

                index.hnsw = faiss.read_index(str(folder / "hnsw.faiss"))
                index.hnsw.hnsw.efSearch = self.ef_search
            self._indexes[name] = index
            return index

    def _save(self, name: str, index: _Index) -> None:
        folder = self._folder(name)
        if folder is None:
            return
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
        try:
            np.save(tmp / "ids.npy", index.ids)
            np.save(tmp / "vectors.npy", index.vectors)
            (tmp / "metadata.json").write_text(json.dumps(index.metadata, default=str))
            (tmp / "info.json").write_text(json.dumps(
                {"dimension": index.dimension, "metric": index.metric,
                 "count": int(len(index.ids))}))
            if index.hnsw is not None:
                import faiss

                faiss.write_index(index.hnsw, str(tmp / "hnsw.faiss"))
            old = folder.with_name(f".{name}.old")
            if folder.exists():
                shutil.rmtree(old, ignore_errors=True)
                os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
            self._seen[name] = (folder / "info.json").stat().st_mtime_ns
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _build_hnsw(self, index: _Index) -> None:
        """(Re)build the HNSW graph when the index is past the exact-search limit."""
        if len(index.ids) <= self.exact_limit:
            index.hnsw = None
            return
        import faiss

        graph = faiss.IndexHNSWFlat(index.dimension, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = self.ef_construction
        graph.add(np.ascontiguousarray(index.search))
        graph.hnsw.efSearch = self.ef_search
        index.hnsw = graph

    # -- protocol ------------------------------------------------------------------------------
    def create_index(self, name: str, dimension: int, metric: str = "cosine") -> None:
        if int(dimension) < 1:
            raise VectorStoreError(f"dimension must be positive, got {dimension}")
        index = _Index(int(dimension), check_metric(metric))
        with self._lock:
            self._folder(name)
            self._indexes[name] = index
            self._save(name, index)

    def exists(self, name: str) -> bool:
        try:
            self._load(name)
            return True
        except IndexNotFound:
            return False

    def info(self, name: str) -> dict[str, Any]:
        """Dimension, metric and count of an index."""
        index = self._load(name)
        return {"dimension": index.dimension, "metric": index.metric, "count": len(index.ids)}

    def upsert(self, name: str, ids: Sequence[int], vectors: np.ndarray,
               metadata: Sequence[Mapping[str, Any]] | None = None) -> int:
        with self._lock:
            index = self._load(name)
            ids_array = np.asarray(ids, dtype=np.int64)
            array = check_vectors(vectors, index.dimension, index.metric)
            if len(ids_array) != len(array):
                raise VectorStoreError(f"{len(ids_array)} ids but {len(array)} vectors")
            if len(np.unique(ids_array)) != len(ids_array):
                raise VectorStoreError("duplicate ids in one upsert")
            metas = [dict(m) for m in metadata] if metadata is not None else [{}] * len(array)
            if len(metas) != len(array):
                raise VectorStoreError(f"{len(metas)} metadata entries for {len(array)} vectors")
            existing = np.array([index.position.get(int(i), -1) for i in ids_array],
                                dtype=np.int64)
            update = existing >= 0
            if update.any():
                index.vectors[existing[update]] = array[update]
                for pos, meta in zip(existing[update], np.array(metas, dtype=object)[update]):
                    index.metadata[pos] = meta
            new = ~update
            if new.any():
                start = len(index.ids)
                index.ids = np.concatenate([index.ids, ids_array[new]])
                index.vectors = np.concatenate([index.vectors, array[new]])
                index.metadata.extend(np.array(metas, dtype=object)[new].tolist())
                for offset, i in enumerate(ids_array[new]):
                    index.position[int(i)] = start + offset
            index.search = index.prepare(index.vectors)
            self._build_hnsw(index)
            self._save(name, index)
            return int(len(array))

    def get(self, name: str, id: int) -> Record | None:
        index = self._load(name)
        pos = index.position.get(int(id))
        if pos is None:
            return None
        return Record(int(id), index.vectors[pos].copy(), dict(index.metadata[pos]))

    def knn(self, name: str, vector: np.ndarray, k: int = 10, exclude: Iterable[int] = (),
            filter: Filter | None = None) -> list[Hit]:
        if k < 1:
            raise VectorStoreError(f"k must be at least 1, got {k}")
        index = self._load(name)
        query = check_vectors(vector, index.dimension, index.metric)[0]
        if index.metric == "cosine":
            query = query / np.linalg.norm(query)
        blocked = {int(i) for i in exclude}
        n = len(index.ids)
        if n == 0:
            return []
        if index.hnsw is not None and not filter:
            return self._knn_hnsw(index, query, k, blocked)
        scores = index.search @ query
        if filter:
            allowed = np.fromiter((matches(m, filter) for m in index.metadata), bool, n)
            scores = np.where(allowed, scores, -np.inf)
        if blocked:
            rows = [index.position[i] for i in blocked if i in index.position]
            scores[rows] = -np.inf
        valid = int(np.isfinite(scores).sum())
        kk = min(k, valid)
        if kk == 0:
            return []
        top = np.argpartition(-scores, kk - 1)[:kk]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [Hit(int(index.ids[p]), float(scores[p]), dict(index.metadata[p])) for p in top]

    def _knn_hnsw(self, index: _Index, query: np.ndarray, k: int, blocked: set[int]) -> list[Hit]:
        want = k + len(blocked)
        while True:
            scores, rows = index.hnsw.search(query[None, :], min(want, len(index.ids)))
            hits = [Hit(int(index.ids[r]), float(s), dict(index.metadata[r]))
                    for s, r in zip(scores[0], rows[0])
                    if r >= 0 and int(index.ids[r]) not in blocked]
            if len(hits) >= k or want >= len(index.ids):
                return hits[:k]
            want *= 2

    def count(self, name: str) -> int:
        return int(len(self._load(name).ids))

    def delete(self, name: str, ids: Sequence[int]) -> int:
        with self._lock:
            index = self._load(name)
            rows = sorted({index.position[int(i)] for i in ids if int(i) in index.position})
            if not rows:
                return 0
            keep = np.ones(len(index.ids), dtype=bool)
            keep[rows] = False
            index.ids = index.ids[keep]
            index.vectors = index.vectors[keep]
            index.search = index.search[keep]
            index.metadata = [m for m, k in zip(index.metadata, keep) if k]
            index.position = {int(i): p for p, i in enumerate(index.ids)}
            self._build_hnsw(index)
            self._save(name, index)
            return len(rows)

    def drop_index(self, name: str) -> None:
        with self._lock:
            folder = self._folder(name)
            self._indexes.pop(name, None)
            if folder is not None and folder.exists():
                shutil.rmtree(folder)

    def version(self) -> tuple[tuple[str, int], ...]:
        """Modification stamps of the persisted indexes; indexes rebuilt on disk by another
        process (``recsys index``) are dropped from memory, so the next query reloads them."""
        if self.root is None or not self.root.is_dir():
            return ()
        stamps = []
        for info in sorted(self.root.glob("*/info.json")):
            name, stamp = info.parent.name, info.stat().st_mtime_ns
            stamps.append((name, stamp))
            with self._lock:
                if self._seen.get(name, stamp) != stamp:
                    self._indexes.pop(name, None)
                self._seen[name] = stamp
        return tuple(stamps)

    def problem(self) -> str | None:
        return None if self.ping() else f"the vector folder {self.root} is not writable"

    def ping(self) -> bool:
        if self.root is None:
            return True
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            return os.access(self.root, os.R_OK | os.W_OK)
        except OSError:
            return False
