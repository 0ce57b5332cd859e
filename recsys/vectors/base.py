"""The vector store protocol shared by every backend, and the filter language it accepts.

A store holds named indexes of fixed dimension and metric (``cosine`` or ``inner_product``),
each record an integer id (a database id), a vector and a metadata dict. Backends:
:mod:`recsys.vectors.local` (embedded default) and :mod:`recsys.vectors.opensearch`.

Filters are dicts, combined with AND: ``{"genres": "Drama"}`` (equal, or contained in a list
field), ``{"occupation": ["writer", "artist"]}`` (any of), ``{"year": {"gte": 1990,
"lte": 1999}}`` (range). They are data, never strings of query language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from recsys.errors import VectorStoreError

METRICS = ("cosine", "inner_product")
Filter = Mapping[str, Any]
#: Appended to an index's name for the copy being built aside (see :meth:`VectorStore.stage`).
STAGED_SUFFIX = "-next"


def staged_name(name: str) -> str:
    """The name the rebuild of ``name`` is written under until it is published."""
    return f"{name}{STAGED_SUFFIX}"


def is_staged(name: str) -> bool:
    """Whether ``name`` is a copy being built aside (never served)."""
    return name.endswith(STAGED_SUFFIX)


class IndexNotFound(VectorStoreError, LookupError):
    """The named index does not exist."""


class VectorStoreUnavailable(VectorStoreError):
    """The backing service cannot be reached (the API answers 503)."""


@dataclass
class Hit:
    """A search result: the record id, its similarity (higher is closer) and metadata."""

    id: int
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Record:
    """A stored record."""

    id: int
    vector: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class VectorStore(Protocol):
    """What every backend provides."""

    def create_index(self, name: str, dimension: int, metric: str = "cosine") -> None:
        """Create ``name`` empty, replacing any index of that name."""

    def stage(self, name: str, dimension: int, metric: str = "cosine") -> None:
        """Create an empty copy of ``name`` aside, as :func:`staged_name` ``(name)``, replacing
        any earlier one; ``name`` itself is still served, unchanged, while the copy is
        written (with :meth:`upsert` under the staged name)."""

    def publish(self, name: str) -> None:
        """Serve the staged copy as ``name`` in one atomic step: readers see the old index or
        the new one, never an empty or half-written one. The old index is deleted.

        Raises:
            IndexNotFound: nothing is staged for ``name``.
        """

    def exists(self, name: str) -> bool:
        """Whether the index exists."""

    def upsert(self, name: str, ids: Sequence[int], vectors: np.ndarray,
               metadata: Sequence[Mapping[str, Any]] | None = None) -> int:
        """Insert or replace records; returns how many were written."""

    def get(self, name: str, id: int) -> Record | None:
        """The record with this id, or None."""

    def knn(self, name: str, vector: np.ndarray, k: int = 10, exclude: Iterable[int] = (),
            filter: Filter | None = None) -> list[Hit]:
        """The ``k`` records closest to ``vector``, best first, skipping ``exclude`` ids."""

    def count(self, name: str) -> int:
        """Number of records."""

    def delete(self, name: str, ids: Sequence[int]) -> int:
        """Delete records by id; returns how many existed."""

    def drop_index(self, name: str) -> None:
        """Delete the whole index (no error if absent)."""

    def ping(self) -> bool:
        """True when the backend answers."""

    def problem(self) -> str | None:
        """Why the store cannot be used right now (unreachable, credentials refused), or
        None when it can."""

    def version(self) -> Any:
        """A value that changes whenever an index is rebuilt (cached answers about similar
        movies are keyed by it)."""


def check_metric(metric: str) -> str:
    """Validate a metric name."""
    if metric not in METRICS:
        raise VectorStoreError(f"metric must be one of {METRICS}, got {metric!r}")
    return metric


def check_vectors(vectors: Any, dimension: int, metric: str) -> np.ndarray:
    """2-D float32 array of the right width; zero vectors refused for cosine (as OpenSearch
    does: their cosine is undefined)."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != dimension:
        raise VectorStoreError(f"vectors must have dimension {dimension}, got shape "
                               f"{array.shape}")
    if not np.isfinite(array).all():
        raise VectorStoreError("vectors must be finite (no NaN or infinity)")
    if metric == "cosine" and (np.linalg.norm(array, axis=1) == 0).any():
        raise VectorStoreError("a zero vector has no cosine similarity: refused")
    return array


def matches(metadata: Mapping[str, Any], filter: Filter | None) -> bool:
    """Whether one record's metadata passes a filter (the reference semantics)."""
    if not filter:
        return True
    for key, wanted in filter.items():
        value = metadata.get(key)
        if isinstance(wanted, Mapping):
            if value is None or isinstance(value, (list, tuple)):
                return False
            if "gte" in wanted and not value >= wanted["gte"]:
                return False
            if "lte" in wanted and not value <= wanted["lte"]:
                return False
            if "gt" in wanted and not value > wanted["gt"]:
                return False
            if "lt" in wanted and not value < wanted["lt"]:
                return False
            continue
        options = list(wanted) if isinstance(wanted, (list, tuple, set)) else [wanted]
        present = list(value) if isinstance(value, (list, tuple)) else [value]
        if not any(o in present for o in options):
            return False
    return True
