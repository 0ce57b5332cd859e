"""Vector stores: one protocol (:mod:`.base`), an embedded backend (:mod:`.local`) and an
OpenSearch backend (:mod:`.opensearch`), chosen by ``RECSYS_VECTOR_BACKEND``."""

from __future__ import annotations

from recsys.config import Settings, get_settings
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


def open_store(settings: Settings | None = None) -> VectorStore:
    """The vector store the settings choose (local under var/vectors, or OpenSearch)."""
    settings = settings or get_settings()
    if settings.vector_backend == "opensearch":
        from recsys.vectors.opensearch import OpenSearchVectorStore, client_for

        return OpenSearchVectorStore(client_for(settings), url=settings.opensearch_url)
    from recsys.vectors.local import LocalVectorStore

    return LocalVectorStore(settings.vectors_dir)
