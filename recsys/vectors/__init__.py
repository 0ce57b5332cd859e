"""The vector stage: movie and user vectors into a store (:mod:`.embeddings`), the stores
themselves (one protocol, :mod:`.base`; an embedded backend, :mod:`.local`; OpenSearch,
:mod:`.opensearch`; chosen by ``RECSYS_VECTOR_BACKEND``), and k-means clusters of the stored
user vectors (:mod:`.clustering`)."""

from __future__ import annotations

from recsys.config import Settings
from recsys.vectors.base import (
    Hit,
    IndexNotFound,
    Record,
    VectorStore,
    VectorStoreError,
    VectorStoreUnavailable,
)

__all__ = ["Hit", "IndexNotFound", "Record", "VectorStore", "VectorStoreError",
           "VectorStoreUnavailable", "open_store"]


def open_store(settings: Settings) -> VectorStore:
    """The vector store the settings choose (local under var/vectors, or OpenSearch)."""
    if settings.vector_backend == "opensearch":
        from recsys.vectors.opensearch import OpenSearchVectorStore, client_for

        return OpenSearchVectorStore(client_for(settings), url=settings.opensearch_url)
    from recsys.vectors.local import LocalVectorStore

    return LocalVectorStore(settings.vectors_dir)
