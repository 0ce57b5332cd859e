"""Two or more local OpenSearch nodes (:class:`~recsys.testing.opensearch.OpenSearchNode`)
forming one cluster on loopback: each with its own data folder and port pair, all eligible as
cluster manager; a node can be killed and started again to rejoin."""

from __future__ import annotations

import os
from typing import Any

from recsys.testing.opensearch import OpenSearchNode, OpenSearchUnavailable
from recsys.testing.ports import free_port


class OpenSearchCluster:
    """Several :class:`OpenSearchNode` s forming one cluster on 127.0.0.1: each has its own
    data folder and port pair, all are eligible as cluster manager (three survive the loss
    of any one). Indexes the vector store creates get one replica per shard here
    (:meth:`recsys.vectors.opensearch.OpenSearchVectorStore.replicas`), so a lost node
    loses no vectors.

    Args:
        nodes: how many (at least 2; 3 keeps a cluster manager majority after one is lost).
        heap_mb: each node's Java heap.
    """

    def __init__(self, nodes: int = 3, heap_mb: int = 256) -> None:
        if nodes < 2:
            raise ValueError("a cluster has at least 2 nodes (OpenSearchNode for one)")
        name = f"recsys-cluster-{os.getpid()}-{free_port()}"
        self.nodes = [OpenSearchNode(heap_mb=heap_mb, name=f"recsys-node-{i}",
                                     cluster_name=name) for i in range(nodes)]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node's URL, comma-separated (what ``RECSYS_OPENSEARCH_URL`` takes)."""
        return ",".join(self.urls)

    def start(self, timeout: float = 300.0) -> str:
        """Start every node and wait until the cluster is green with all of them."""
        for node in self.nodes:
            node.allocate()
        seeds = [f"127.0.0.1:{node.transport_port}" for node in self.nodes]
        for node in self.nodes:
            node.seed_hosts, node.managers = seeds, [n.name for n in self.nodes]
            node.launch()
        self.wait_green(timeout)
        return self.url

    def alive(self) -> list[OpenSearchNode]:
        return [n for n in self.nodes if n.process is not None and n.process.poll() is None]

    def wait_green(self, timeout: float = 300.0) -> None:
        """Green with every node of the cluster in it (asked through a live node)."""
        alive = self.alive()
        if not alive:
            raise OpenSearchUnavailable("no node of the cluster is running")
        alive[0].wait_green(timeout, nodes=len(self.nodes))

    def request(self, path: str, method: str = "GET", body: Any = None) -> Any:
        """A JSON request through the first live node."""
        return self.alive()[0].request(path, method, body)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> OpenSearchCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
