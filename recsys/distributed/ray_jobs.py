"""Batch prediction and indexing past one machine, on Ray.

``recsys predict --ray ADDRESS [--shards N]`` and ``recsys index --ray ADDRESS [--shards N]``
hand the existing shards (:mod:`recsys.predictions.sharding`) to a Ray cluster as N tasks.
Ray places them on the cluster's nodes and runs a task again when the worker or the node
running it dies (:data:`RETRIES` times); the driver prints one line as each shard finishes.
Each task does exactly what ``--shard I/N`` does on one machine
(:func:`recsys.predictions.batch.run_from_settings`,
:func:`recsys.vectors.embeddings.index_from_settings`), and a shard replaces only its own
users' rows or vectors, so a task run twice still leaves every user's rows once, and the
result is the rows of a plain run of the same model.

What every node needs is passed with each task (the resolved :class:`~recsys.config.Settings`)
and must be reachable from every node: the database (PostgreSQL; a SQLite file is on one
machine), the model artifacts (a folder every node mounts) and the vector store (OpenSearch;
the local index is one process's files). What cannot work is refused before any task starts,
with one line saying why.

Ray is an optional dependency (``pip install 'recsys[ray]'``), imported only here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from recsys.config import Settings
from recsys.errors import RecsysError, UsageError
from recsys.predictions.sharding import Shard

#: A task whose worker process or node dies is run again this many times.
RETRIES = 3

Say = Callable[[str], None]


def connect(address: str) -> Any:
    """Join the Ray cluster at ``address`` (``auto``: the one this machine belongs to);
    returns the ``ray`` module. One line (a :class:`UsageError`) when Ray is missing or the
    cluster cannot be reached."""
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray, an optional dependency: pip install "
                         "'recsys[ray]' (or make setup)") from None
    if ray.is_initialized():
        return ray
    problem = _unreachable(address)
    if problem:
        raise UsageError(f"cannot join the Ray cluster at {address}: {problem}")
    try:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False,
                 configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"cannot join the Ray cluster at {address}: {first}") from None
    return ray


def _unreachable(address: str, seconds: float = 5.0) -> str | None:
    """Why nothing answers at a ``host:port`` address (Ray itself would retry for minutes),
    or None: it answers, or the address is not of that form (``auto``, ``local``)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return None
    try:
        with socket.create_connection((host, int(port)), timeout=seconds):
            return None
    except OSError as exc:
        return f"nothing answers there ({exc.strerror or exc})"


def alive_nodes(ray: Any) -> int:
    """How many nodes of the cluster are up."""
    return sum(1 for node in ray.nodes() if node.get("Alive"))


def check_shared(settings: Settings, nodes: int, vectors: bool = False) -> None:
    """Refuse, with one line, what tasks on other nodes cannot reach."""
    if nodes > 1 and settings.database_url.startswith("sqlite"):
        raise UsageError(f"--ray on a cluster of {nodes} nodes needs a database every node "
                         "reaches, and RECSYS_DATABASE_URL is a SQLite file on this machine: "
                         "use PostgreSQL")
    if vectors and settings.vector_backend == "local":
        raise UsageError("--ray writes vectors from several processes, and the local vector "
                         "index is one process's files: set RECSYS_VECTOR_BACKEND=opensearch")


def _shard_count(ray: Any, shards: int | None) -> int:
    if shards is not None:
        return shards
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _where() -> str:
    """This task's node (address and the start of its id), for the progress lines."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    return f"{ray.util.get_node_ip_address()} (node {node[:8]})"


def _predict_task(settings: Settings, index: int, count: int, top_n: int) -> dict[str, Any]:
    from recsys.predictions import batch

    result = batch.run_from_settings(settings, top_n=top_n, shard=Shard(index, count))
    return {**result, "node": _where()}


def _index_task(settings: Settings, index: int, count: int) -> dict[str, Any]:
    from recsys.vectors import embeddings

    counts, trained = embeddings.index_from_settings(settings, shard=Shard(index, count))
    return {"counts": counts, "trained": trained, "node": _where()}


def run_shards(ray: Any, task: Callable[..., dict[str, Any]], count: int,
               arguments: tuple[Any, ...], describe: Callable[[dict[str, Any]], str],
               say: Say) -> list[dict[str, Any]]:
    """Run ``task(*arguments[:1], index, count, *arguments[1:])`` for every shard index as
    Ray tasks (retried when their worker dies); one line per finished shard; the results in
    shard order. A task that fails for a reason of its own (a :class:`RecsysError`) stops
    the run with that reason."""
    from ray.exceptions import RayTaskError

    remote = ray.remote(num_cpus=1, max_retries=RETRIES)(task)
    settings, rest = arguments[0], arguments[1:]
    pending = {remote.remote(settings, index, count, *rest): index for index in range(count)}
    results: dict[int, dict[str, Any]] = {}
    started = time.perf_counter()
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        index = pending.pop(done[0])
        try:
            results[index] = ray.get(done[0])
        except RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, RecsysError):
                raise type(cause)(f"shard {index}/{count}: {cause}") from None
            raise
        say(f"  shard {index}/{count} done on {results[index]['node']} "
            f"({len(results)}/{count}, {time.perf_counter() - started:.1f} s): "
            f"{describe(results[index])}")
    return [results[i] for i in range(count)]


def predict(settings: Settings, address: str, top_n: int = 100, shards: int | None = None,
            say: Say = print) -> dict[str, Any]:
    """``recsys predict`` as ``shards`` Ray tasks; the totals of the shards' results."""
    ray = connect(address)
    check_shared(settings, alive_nodes(ray))
    count = _shard_count(ray, shards)
    say(f"Batch prediction in {count} shard(s) on the Ray cluster at {address} "
        f"({alive_nodes(ray)} node(s))")
    results = run_shards(ray, _predict_task, count, (settings, top_n),
                         lambda r: f"{r['users']} users, {r['rows']} rows", say)
    versions = {r["model_version"] for r in results}
    return {"rows": sum(r["rows"] for r in results),
            "users": sum(r["users"] for r in results), "top_n": top_n,
            "shards": count, "model_version": ", ".join(sorted(versions)),
            "nodes": sorted({r["node"] for r in results})}


def index(settings: Settings, address: str, shards: int | None = None,
          say: Say = print) -> tuple[dict[str, int], bool]:
    """``recsys index`` as ``shards`` Ray tasks: the indexes are staged empty here, the
    tasks write their shards into them, and they are published here when every shard is
    done (a failed run leaves the previous indexes served); records written per index
    (summed over the shards), and whether a model was there."""
    from recsys.vectors import embeddings

    ray = connect(address)
    check_shared(settings, alive_nodes(ray), vectors=True)
    count = _shard_count(ray, shards)
    embeddings.index_from_settings(settings, prepare=True)
    say(f"Indexing in {count} shard(s) on the Ray cluster at {address} "
        f"({alive_nodes(ray)} node(s))")
    results = run_shards(ray, _index_task, count, (settings,),
                         lambda r: ", ".join(f"{n} {c}" for n, c in r["counts"].items()), say)
    totals: dict[str, int] = {}
    for result in results:
        for name, written in result["counts"].items():
            totals[name] = totals.get(name, 0) + written
    embeddings.publish_from_settings(settings)
    return totals, all(r["trained"] for r in results)
