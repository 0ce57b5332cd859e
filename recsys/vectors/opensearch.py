"""OpenSearch backend (``RECSYS_VECTOR_BACKEND=opensearch``) through opensearch-py.

Written against the k-NN plugin's documented API for OpenSearch 2.x and 3.x:

- index settings ``index.knn: true``; a ``knn_vector`` field with an ``hnsw`` method on the
  **lucene** engine (supported everywhere from 2.4 on; ``nmslib`` is deprecated in 3.x and
  ``faiss`` only supports cosine from 2.19), space ``cosinesimil`` or ``innerproduct``;
- metadata strings mapped as ``keyword`` (exact term filters);
- each served index is an alias onto a physical index (``recsys-movies_learned`` ->
  ``recsys-movies_learned-v<time>``); a rebuild writes a new physical index under the staged
  alias (``...-next``) and :meth:`OpenSearchVectorStore.publish` moves the served alias onto
  it in one ``_aliases`` request (atomic for readers), then deletes the old one;
- one replica per shard when the cluster has more than one data node, so losing a node loses
  no vectors;
- writes through the bulk helper, then an explicit refresh so queries see them;
- queries use the ``knn`` clause with an *efficient filter* (filtering during the graph search,
  so k results come back when k exist), the excluded ids as a ``must_not`` ``ids`` clause;
- scores are converted back to similarities: cosine = 2 * score - 1 (score = (2 - d) / 2 with
  d = 1 - cos); inner product (lucene) = score - 1 when score > 1, else 1 - 1 / score.

Credentials and TLS come from settings (env vars), never from code. Connection failures raise
:class:`~recsys.vectors.base.VectorStoreUnavailable`, which the API turns into a 503.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from recsys.vectors.base import (
    Filter,
    Hit,
    IndexNotFound,
    Record,
    VectorStoreError,
    VectorStoreUnavailable,
    check_metric,
    check_vectors,
    staged_name,
)

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

    from recsys.config import Settings

SPACE = {"cosine": "cosinesimil", "inner_product": "innerproduct"}
VECTOR_FIELD = "vector"
HNSW = {"ef_construction": 128, "m": 16}
EF_SEARCH = 128  # HNSW candidates per query (as the local faiss index); at least k
RECORD_CACHE = 50_000  # records kept by get()
RECORD_TTL = 60.0  # seconds a kept record is trusted
BULK = 1000  # records per bulk request


def index_body(dimension: int, metric: str, replicas: int = 0) -> dict[str, Any]:
    """The create-index request body (settings and mappings)."""
    return {
        "settings": {"index": {"knn": True, "number_of_shards": 1,
                               "number_of_replicas": int(replicas)}},
        "mappings": {
            "dynamic_templates": [{"strings_as_keywords": {
                "match_mapping_type": "string", "mapping": {"type": "keyword"}}}],
            "properties": {
                "item_id": {"type": "long"},
                VECTOR_FIELD: {
                    "type": "knn_vector", "dimension": int(dimension),
                    "method": {"name": "hnsw", "space_type": SPACE[check_metric(metric)],
                               "engine": "lucene", "parameters": dict(HNSW)},
                },
                "metadata": {"type": "object"},
            },
        },
    }


def filter_clause(filter: Filter | None, exclude: Iterable[int] = ()) -> dict[str, Any] | None:
    """Translate a store filter (see :mod:`recsys.vectors.base`) into an OpenSearch bool query.

    Values always travel as JSON values inside the query structure, never spliced into text.
    """
    must: list[dict[str, Any]] = []
    for key, wanted in (filter or {}).items():
        field = f"metadata.{key}"
        if isinstance(wanted, Mapping):
            bounds = {op: wanted[op] for op in ("gte", "lte", "gt", "lt") if op in wanted}
            must.append({"range": {field: bounds}})
        elif isinstance(wanted, (list, tuple, set)):
            must.append({"terms": {field: list(wanted)}})
        else:
            must.append({"term": {field: wanted}})
    excluded = [str(int(i)) for i in exclude]
    if not must and not excluded:
        return None
    clause: dict[str, Any] = {}
    if must:
        clause["must"] = must
    if excluded:
        clause["must_not"] = [{"ids": {"values": excluded}}]
    return {"bool": clause}


def knn_body(vector: Sequence[float], k: int, filter: Filter | None = None,
             exclude: Iterable[int] = ()) -> dict[str, Any]:
    """The search request body for the ``k`` nearest records."""
    knn: dict[str, Any] = {"vector": [float(x) for x in vector], "k": int(k),
                           "method_parameters": {"ef_search": max(EF_SEARCH, int(k))}}
    clause = filter_clause(filter, exclude)
    if clause is not None:
        knn["filter"] = clause
    return {"size": int(k), "_source": {"excludes": [VECTOR_FIELD]},
            "query": {"knn": {VECTOR_FIELD: knn}}}


def similarity(score: float, metric: str) -> float:
    """Convert an OpenSearch k-NN score back to the similarity it encodes."""
    if metric == "cosine":
        return 2.0 * score - 1.0
    return score - 1.0 if score > 1.0 else 1.0 - 1.0 / score


def make_client(url: str, user: str = "", password: str = "", verify_certs: bool = True,
                timeout: float = 10.0, **kwargs: Any) -> Any:
    """An opensearch-py client for ``url``: one node's URL, or the URLs of a cluster's nodes
    separated by commas (a request to a node that does not answer is retried on the next,
    so losing one node does not fail searches); https URLs get TLS."""
    from opensearchpy import OpenSearch

    hosts = [part.strip() for part in url.split(",") if part.strip()]
    if not hosts:
        raise VectorStoreUnavailable("RECSYS_OPENSEARCH_URL is not set")
    auth = (user, password) if user and password else None
    # a pool per process large enough for the API's threads and its refresh thread (urllib3's
    # default of one discards connections under load and logs a warning each time)
    kwargs.setdefault("pool_maxsize", 16)
    if len(hosts) > 1:
        kwargs.setdefault("max_retries", len(hosts))
        kwargs.setdefault("retry_on_timeout", True)
    return OpenSearch(hosts=hosts, http_auth=auth, use_ssl=hosts[0].startswith("https"),
                      verify_certs=verify_certs, ssl_show_warn=verify_certs, timeout=timeout,
                      **kwargs)


def client_for(settings: Settings) -> OpenSearch:
    """The client the settings describe (``RECSYS_OPENSEARCH_*``)."""
    return make_client(settings.opensearch_url, settings.opensearch_user,
                       settings.opensearch_password, settings.opensearch_verify_certs)


class OpenSearchVectorStore:
    """Vector store on an OpenSearch cluster with the k-NN plugin.

    Args:
        client: an ``opensearchpy.OpenSearch`` client (see :func:`make_client`).
        prefix: prepended to every index name (several projects can share a cluster).
        url: the cluster's address, named in error messages.
    """

    def __init__(self, client: Any, prefix: str = "recsys-", url: str = "") -> None:
        self.client = client
        self.prefix = prefix
        self.url = url
        self._metrics: dict[str, str] = {}
        self._dimensions: dict[str, int] = {}
        self._records: dict[tuple[str, int], tuple[float, Record]] = {}
        self._seen_version: Any = None

    def _index(self, name: str) -> str:
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            raise VectorStoreError(f"index names use letters, digits, - and _: got {name!r}")
        return f"{self.prefix}{name}".lower()

    def _where(self) -> str:
        return self.url or "the configured OpenSearch"

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        from opensearchpy.exceptions import (
            AuthenticationException,
            AuthorizationException,
            ConnectionTimeout,
            NotFoundError,
            SSLError,
            TransportError,
        )
        from opensearchpy.exceptions import ConnectionError as OSConnectionError

        try:
            return method(*args, **kwargs)
        except NotFoundError as exc:
            raise IndexNotFound(f"vector index not found in OpenSearch: {exc.info}") from exc
        except (AuthenticationException, AuthorizationException) as exc:
            raise VectorStoreUnavailable(
                f"OpenSearch at {self._where()} refused the credentials ({exc.status_code}): "
                "check RECSYS_OPENSEARCH_USER and RECSYS_OPENSEARCH_PASSWORD") from exc
        except SSLError as exc:
            raise VectorStoreUnavailable(
                f"OpenSearch at {self._where()}: TLS failed ({exc.info}); with demo "
                "certificates set RECSYS_OPENSEARCH_VERIFY_CERTS=false") from exc
        except (OSConnectionError, ConnectionTimeout) as exc:
            raise VectorStoreUnavailable(f"OpenSearch unreachable at {self._where()}: "
                                         f"{exc.info or exc}") from exc
        except TransportError as exc:
            if isinstance(exc.status_code, int) and exc.status_code >= 500:
                raise VectorStoreUnavailable(f"OpenSearch error {exc.status_code}") from exc
            raise VectorStoreError(f"OpenSearch refused the request ({exc.status_code}): "
                                   f"{exc.error} {exc.info}") from exc

    def problem(self) -> str | None:
        """Why the cluster cannot be used (unreachable, credentials refused), or None."""
        try:
            self._call(self.client.info)
        except VectorStoreError as exc:
            return str(exc)
        return None

    def _describe(self, name: str) -> tuple[int, str]:
        """Dimension and metric of an index (from its mapping, cached)."""
        if name not in self._metrics:
            mapping = self._call(self.client.indices.get_mapping, index=self._index(name))
            props = next(iter(mapping.values()))["mappings"]["properties"][VECTOR_FIELD]
            space = props["method"]["space_type"]
            self._metrics[name] = {v: k for k, v in SPACE.items()}[space]
            self._dimensions[name] = int(props["dimension"])
        return self._dimensions[name], self._metrics[name]

    # -- protocol ------------------------------------------------------------------------------
    def create_index(self, name: str, dimension: int, metric: str = "cosine") -> None:
        self.stage(name, dimension, metric)
        self.publish(name)

    def _targets(self, name: str) -> list[str]:
        """The physical indexes behind the alias ``name``; ``[name]`` for an index created
        by an older release (a concrete index of that name); ``[]`` when neither exists."""
        if self._call(self.client.indices.exists_alias, name=name):
            return sorted(self._call(self.client.indices.get_alias, name=name))
        return [name] if self._call(self.client.indices.exists, index=name) else []

    def replicas(self) -> int:
        """Replicas for a new index: one when the cluster has more than one data node (a lost
        node then loses no vectors), else none."""
        health = self._call(self.client.cluster.health)
        return 1 if int(health.get("number_of_data_nodes", 1)) > 1 else 0

    def stage(self, name: str, dimension: int, metric: str = "cosine") -> None:
        staged = staged_name(name)
        alias = self._index(staged)
        for old in self._targets(alias):
            self._call(self.client.indices.delete, index=old)
        physical = f"{self._index(name)}-v{time.time_ns()}"
        body = index_body(dimension, metric, self.replicas())
        body["aliases"] = {alias: {}}
        self._call(self.client.indices.create, index=physical, body=body)
        self._metrics[staged], self._dimensions[staged] = metric, int(dimension)
        self._forget(staged)

    def publish(self, name: str) -> None:
        staged = staged_name(name)
        alias, served = self._index(staged), self._index(name)
        new = self._targets(alias)
        if not new or new == [alias]:
            raise IndexNotFound(f"no staged index for {name!r} to publish: run `recsys index "
                                "--prepare` and the shards first")
        old = [i for i in self._targets(served) if i not in new]
        legacy = old == [served]
        actions: list[dict[str, Any]] = [{"add": {"index": new[0], "alias": served}},
                                         {"remove": {"index": new[0], "alias": alias}}]
        if legacy:
            actions.append({"remove_index": {"index": served}})
        else:
            actions += [{"remove": {"index": i, "alias": served}} for i in old]
        self._call(self.client.indices.update_aliases, body={"actions": actions})
        for index in [] if legacy else old:
            self._call(self.client.indices.delete, index=index)
        for cache in (self._metrics, self._dimensions):
            cache.pop(name, None)
            cache.pop(staged, None)
        self._forget(name)
        self._forget(staged)

    def exists(self, name: str) -> bool:
        return bool(self._call(self.client.indices.exists, index=self._index(name)))

    def upsert(self, name: str, ids: Sequence[int], vectors: np.ndarray,
               metadata: Sequence[Mapping[str, Any]] | None = None) -> int:
        """Bulk-index the records in chunks (actions are generated as they are sent, so a
        million vectors do not sit in memory as JSON), then refresh once."""
        from opensearchpy import helpers

        dimension, metric = self._describe(name)
        array = check_vectors(vectors, dimension, metric)
        ids_list = [int(i) for i in ids]
        if len(ids_list) != len(array):
            raise VectorStoreError(f"{len(ids_list)} ids but {len(array)} vectors")
        index = self._index(name)

        def actions() -> Iterable[dict[str, Any]]:
            for position, item in enumerate(ids_list):
                meta = metadata[position] if metadata is not None else {}
                yield {"_op_type": "index", "_index": index, "_id": str(item),
                       "_source": {"item_id": item, VECTOR_FIELD: array[position].tolist(),
                                   "metadata": dict(meta)}}

        written, errors = self._call(helpers.bulk, self.client, actions(), chunk_size=BULK,
                                     raise_on_error=False, request_timeout=120)
        if errors:
            raise VectorStoreError(f"{len(errors)} record(s) rejected by OpenSearch, first: "
                                   f"{errors[0]}")
        self._call(self.client.indices.refresh, index=index, request_timeout=120)
        self._forget(name)
        return int(written)

    def get(self, name: str, id: int) -> Record | None:
        """A record; records read recently are kept (:data:`RECORD_CACHE` of them, for at
        most :data:`RECORD_TTL` seconds, dropped when this store writes the index or sees it
        rebuilt), so similar-movie queries cost one round trip, not two."""
        key = (name, int(id))
        cached = self._records.get(key)
        if cached is not None and time.monotonic() - cached[0] < RECORD_TTL:
            return cached[1]
        try:
            doc = self._call(self.client.get, index=self._index(name), id=str(int(id)))
        except IndexNotFound:
            if not self.exists(name):
                raise
            return None
        source = doc["_source"]
        record = Record(int(id), np.asarray(source[VECTOR_FIELD], dtype=np.float32),
                        dict(source.get("metadata", {})))
        if len(self._records) >= RECORD_CACHE:
            self._records.clear()
        self._records[key] = (time.monotonic(), record)
        return record

    def _forget(self, name: str | None = None) -> None:
        """Drop cached records (of one index, or all)."""
        for key in [k for k in self._records if name is None or k[0] == name]:
            self._records.pop(key, None)

    def knn(self, name: str, vector: np.ndarray, k: int = 10, exclude: Iterable[int] = (),
            filter: Filter | None = None) -> list[Hit]:
        if k < 1:
            raise VectorStoreError(f"k must be at least 1, got {k}")
        dimension, metric = self._describe(name)
        query = check_vectors(vector, dimension, metric)[0]
        body = knn_body(query.tolist(), k, filter, exclude)
        response = self._call(self.client.search, index=self._index(name), body=body)
        return [Hit(int(h["_id"]), similarity(float(h["_score"]), metric),
                    dict(h["_source"].get("metadata", {})))
                for h in response["hits"]["hits"]][:k]

    def count(self, name: str) -> int:
        return int(self._call(self.client.count, index=self._index(name))["count"])

    def delete(self, name: str, ids: Sequence[int]) -> int:
        from opensearchpy import helpers

        index = self._index(name)
        actions = [{"_op_type": "delete", "_index": index, "_id": str(int(i))} for i in ids]
        deleted, errors = self._call(helpers.bulk, self.client, actions, raise_on_error=False)
        self._call(self.client.indices.refresh, index=index)
        return int(deleted)

    def drop_index(self, name: str) -> None:
        for index in self._targets(self._index(name)):
            self._call(self.client.indices.delete, index=index)
        self._metrics.pop(name, None)
        self._dimensions.pop(name, None)
        self._forget(name)

    def version(self) -> Any:
        """The ids OpenSearch gave this project's indexes (a rebuilt index gets a new one);
        while the cluster cannot be asked, a value that changes every 10 seconds."""
        try:
            rows = self.client.cat.indices(index=f"{self.prefix}*", h="index,uuid",
                                           format="json")
            version = tuple(sorted((r["index"], r["uuid"]) for r in rows))
            if version != self._seen_version:  # an index was rebuilt, by us or elsewhere
                self._forget()
                self._seen_version = version
            return version
        except Exception:  # noqa: BLE001 - unreachable: let cached answers expire quickly
            return ("unreachable", int(time.monotonic() // 10))

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            return False
