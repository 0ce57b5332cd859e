"""Embedded vector store: NumPy exact search, faiss HNSW for large indexes, persisted files.

Each index lives in ``<root>/<name>``, a symbolic link to the folder of its current version
(``<root>/.<name>.<random>/``: ``ids.npy``, ``vectors.npy``, ``metadata.json`` and
``info.json``, plus ``hnsw.faiss`` for large indexes). Every write builds a new version folder
and then swaps the link in one ``rename``, so a reader sees the old index or the new one,
never half of one and never none; a rebuild is staged aside (:meth:`LocalVectorStore.stage`,
under ``<name>-next``) and published by the same swap (:meth:`LocalVectorStore.publish`).

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
    is_staged,
    matches,
    staged_name,
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
        self._seen: dict[str, str] = {}
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
            try:
                index = self._read(folder.resolve())
            except FileNotFoundError:  # swapped and deleted while being read: read the new one
                index = self._read(folder.resolve())
            self._indexes[name] = index
            return index

    def _read(self, version: Path) -> _Index:
        """One version folder into memory (``version`` is resolved: a swap of the link
        meanwhile does not mix two versions)."""
        info = json.loads((version / "info.json").read_text())
        index = _Index(int(info["dimension"]), info["metric"])
        index.ids = np.load(version / "ids.npy")
        index.vectors = np.load(version / "vectors.npy")
        index.search = index.prepare(index.vectors) if len(index.ids) else index.vectors
        index.metadata = json.loads((version / "metadata.json").read_text())
        index.position = {int(i): p for p, i in enumerate(index.ids)}
        if (version / "hnsw.faiss").is_file():
            import faiss

            index.hnsw = faiss.read_index(str(version / "hnsw.faiss"))
            index.hnsw.hnsw.efSearch = self.ef_search
        return index

    def _save(self, name: str, index: _Index) -> None:
        """Write ``index`` as a new version folder, then point ``name`` at it."""
        folder = self._folder(name)
        if folder is None:
            return
        folder.parent.mkdir(parents=True, exist_ok=True)
        version = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=folder.parent))
        try:
            np.save(version / "ids.npy", index.ids)
            np.save(version / "vectors.npy", index.vectors)
            (version / "metadata.json").write_text(json.dumps(index.metadata, default=str))
            (version / "info.json").write_text(json.dumps(
                {"dimension": index.dimension, "metric": index.metric,
                 "count": int(len(index.ids))}))
            if index.hnsw is not None:
                import faiss

                faiss.write_index(index.hnsw, str(version / "hnsw.faiss"))
            self._point(name, version)
        except BaseException:
            shutil.rmtree(version, ignore_errors=True)
            raise

    def _point(self, name: str, version: Path) -> None:
        """Make the link ``name`` point at ``version`` in one rename, then delete the version
        it pointed at (a folder written by an older release is moved aside first)."""
        link = self.root / name  # type: ignore[operator]
        previous = link.resolve() if link.is_symlink() else None
        if link.exists() and not link.is_symlink():
            previous = link.with_name(f".{name}.legacy")
            shutil.rmtree(previous, ignore_errors=True)
            os.replace(link, previous)
        staging = link.with_name(f".{name}.link-{os.getpid()}-{threading.get_ident()}")
        staging.unlink(missing_ok=True)
        os.symlink(version.name, staging)
        os.replace(staging, link)
        if previous is not None and previous != version.resolve():
            shutil.rmtree(previous, ignore_errors=True)
        self._seen[name] = self._stamp(link)

    @staticmethod
    def _stamp(link: Path) -> str:
        """Which version a link points at (changes on every write)."""
        return os.readlink(link) if link.is_symlink() else str(link.stat().st_mtime_ns)

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
        self.stage(name, dimension, metric)
        self.publish(name)

    def stage(self, name: str, dimension: int, metric: str = "cosine") -> None:
        if int(dimension) < 1:
            raise VectorStoreError(f"dimension must be positive, got {dimension}")
        index = _Index(int(dimension), check_metric(metric))
        staged = staged_name(name)
        with self._lock:
            self._folder(name)
            self._indexes[staged] = index
            self._save(staged, index)

    def publish(self, name: str) -> None:
        staged = staged_name(name)
        with self._lock:
            folder = self._folder(staged)
            if folder is None:
                if staged not in self._indexes:
                    raise IndexNotFound(f"no staged index for {name!r} to publish")
                self._indexes[name] = self._indexes.pop(staged)
                return
            if not folder.is_symlink():
                raise IndexNotFound(f"no staged index for {name!r} to publish: run "
                                    "`recsys index --prepare` and the shards first")
            self._point(name, folder.resolve())
            folder.unlink()
            self._seen.pop(staged, None)
            staged_index = self._indexes.pop(staged, None)
            if staged_index is not None:
                self._indexes[name] = staged_index
            else:
                self._indexes.pop(name, None)

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
            if folder is None:
                return
            if folder.is_symlink():
                version = folder.resolve()
                folder.unlink()
                shutil.rmtree(version, ignore_errors=True)
            elif folder.exists():
                shutil.rmtree(folder)

    def version(self) -> tuple[tuple[str, str], ...]:
        """Which version each served index is at; indexes rebuilt on disk by another process
        (``recsys index``) are dropped from memory, so the next query reloads them. Staged
        indexes are not served and not counted."""
        if self.root is None or not self.root.is_dir():
            return ()
        stamps = []
        for link in sorted(self.root.iterdir()):
            name = link.name
            if name.startswith(".") or is_staged(name) or not (link / "info.json").is_file():
                continue
            stamp = self._stamp(link)
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
