"""A real, local OpenSearch node for tests, benchmarks and users without Docker.

The node is assembled once from OpenSearch's artifacts on Maven Central
(:mod:`recsys.testing.opensearch_dist`: the distribution, lang-painless, k-NN, job-scheduler
and ML Commons; the security plugin for the secured variant); this module runs it bound to
127.0.0.1 on free ports with a small heap.

- :class:`OpenSearchNode`: start, wait for green, restart, stop (tests use it as a context
  manager); the secured variant turns TLS on with generated demo certificates and an admin
  password from ``OPENSEARCH_ADMIN_PASSWORD`` (as the compose file does);
- :class:`~recsys.testing.opensearch_cluster.OpenSearchCluster`: two or more such nodes
  forming one cluster;
- :mod:`recsys.testing.opensearch_cli`: ``python -m recsys.testing.opensearch_cli start``
  (``make opensearch``), a node or a cluster that keeps running.

OpenSearch refuses to run as root: as root the node runs as the system user ``opensearch``
(created when missing), like initdb runs as ``postgres``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path
from typing import Any

from recsys.testing import as_root
from recsys.testing.opensearch_dist import (
    VERSION,
    OpenSearchUnavailable,
    cache_dir,
    java_home,
    prepare,
)
from recsys.testing.ports import free_port

__all__ = ["VERSION", "OpenSearchNode", "OpenSearchUnavailable", "cache_dir", "prepare"]

RUN_AS = "opensearch"
HEAP_MB = 512
ADMIN_USER = "admin"


class OpenSearchNode:
    """A single-node cluster on 127.0.0.1, its data in a temporary folder.

    Example::

        with OpenSearchNode() as node:
            store = OpenSearchVectorStore(make_client(node.url))

    Args:
        security: TLS and authentication (demo certificates; the admin password from
            ``password``, else ``OPENSEARCH_ADMIN_PASSWORD``).
        heap_mb: Java heap (at most 1 GB).
    """

    def __init__(self, security: bool = False, heap_mb: int = HEAP_MB,
                 password: str | None = None, name: str = "recsys-node",
                 cluster_name: str = "recsys-local") -> None:
        self.security = security
        self.name, self.cluster_name = name, cluster_name
        #: transport addresses of every node and the names of the first cluster managers
        #: (:class:`OpenSearchCluster` sets them); None: a single-node cluster
        self.seed_hosts: list[str] | None = None
        self.managers: list[str] | None = None
        self.heap_mb = min(int(heap_mb), 1024)
        self.password = password or os.environ.get("OPENSEARCH_ADMIN_PASSWORD", "")
        if security and not self.password:
            raise OpenSearchUnavailable("the secured node needs an admin password: set "
                                        "OPENSEARCH_ADMIN_PASSWORD")
        self.home = prepare(security)
        self.http_port = self.transport_port = 0
        self.run_dir: Path | None = None
        self.node_home = self.home
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.security else "http"
        return f"{scheme}://127.0.0.1:{self.http_port}"

    @property
    def user(self) -> str:
        return ADMIN_USER if self.security else ""

    def _own(self, path: Path, recursive: bool = True) -> None:
        """Give ``path`` to the node's user when running as root."""
        if not as_root():
            return
        if subprocess.run(["id", RUN_AS], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                            "/usr/sbin/nologin", RUN_AS], check=True)
        shutil.chown(path, user=RUN_AS)
        for child in path.rglob("*") if recursive else ():
            shutil.chown(child, user=RUN_AS)

    def _home(self) -> Path:
        """The node's home: the cached one, or for the secured variant a copy of its own made
        of hard links (no disk used) with a real config folder, into which the demo security
        configuration is installed with this node's password."""
        assert self.run_dir is not None
        if not self.security:
            return self.home
        home = self.run_dir / "home"
        linked = subprocess.run(["cp", "-al", str(self.home), str(home)], capture_output=True)
        if linked.returncode != 0:  # another file system: a plain copy
            shutil.copytree(self.home, home, symlinks=True)
        shutil.rmtree(home / "config")
        shutil.copytree(self.home / "config", home / "config")
        tool = home / "plugins" / "opensearch-security" / "tools"
        done = subprocess.run(
            ["bash", str(tool / "install_demo_configuration.sh"), "-y", "-i", "-s"],
            env={**os.environ, "JAVA_HOME": java_home(), "OPENSEARCH_HOME": str(home),
                 "OPENSEARCH_INITIAL_ADMIN_PASSWORD": self.password},
            capture_output=True, text=True, timeout=300)
        if done.returncode != 0 or "Success" not in done.stdout + done.stderr:
            raise OpenSearchUnavailable("installing the demo security configuration failed: "
                                        f"{(done.stdout + done.stderr)[-800:]}")
        return home

    def _config(self, home: Path) -> Path:
        """A config folder of this node's own, its JVM options writing into the run folder."""
        assert self.run_dir is not None
        config = self.run_dir / "config"
        shutil.copytree(home / "config", config)
        # the JVM options name files relative to the home: point them into the run folder
        options = config / "jvm.options"
        options.write_text(options.read_text()
                           .replace("file=logs/", f"file={self.run_dir}/logs/")
                           .replace("ErrorFile=logs/", f"ErrorFile={self.run_dir}/logs/")
                           .replace("HeapDumpPath=data", f"HeapDumpPath={self.run_dir}/data"))
        return config

    def allocate(self) -> None:
        """The node's run folder (data, logs, config) and its two free ports, once."""
        if self.run_dir is not None:
            return
        self.run_dir = Path(tempfile.mkdtemp(prefix="recsys-opensearch-"))
        self.http_port, self.transport_port = free_port(), free_port()
        for part in ("data", "logs", "tmp"):
            (self.run_dir / part).mkdir()
        self.node_home = self._home()
        self._config(self.node_home)
        for part in ("data", "logs", "config", "tmp"):
            self._own(self.run_dir / part)
        self._own(self.run_dir, recursive=False)

    def launch(self) -> None:
        """Start the node's process (after :meth:`allocate`) without waiting for it."""
        self.allocate()
        assert self.run_dir is not None
        if self.seed_hosts is None:
            discovery = ["-Ediscovery.type=single-node"]
        else:  # a cluster on one machine: each node sized for one core
            discovery = [f"-Ediscovery.seed_hosts={','.join(self.seed_hosts)}",
                         "-Ecluster.initial_cluster_manager_nodes="
                         + ",".join(self.managers or []), "-Enode.processors=1"]
        command = [str(self.node_home / "bin" / "opensearch"), *discovery,
                   "-Enetwork.host=127.0.0.1", f"-Ehttp.port={self.http_port}",
                   f"-Etransport.port={self.transport_port}",
                   f"-Epath.data={self.run_dir / 'data'}", f"-Epath.logs={self.run_dir / 'logs'}",
                   "-Eplugins.ml_commons.only_run_on_ml_node=false",
                   f"-Ecluster.name={self.cluster_name}", f"-Enode.name={self.name}"]
        if as_root():
            command = ["runuser", "-u", RUN_AS, "--", *command]
        env = {**os.environ, "JAVA_HOME": java_home(), "OPENSEARCH_JAVA_HOME": java_home(),
               "OPENSEARCH_PATH_CONF": str(self.run_dir / "config"),
               # the JVM's temporary files go with the node's folder, removed with it
               "OPENSEARCH_TMPDIR": str(self.run_dir / "tmp"),
               "OPENSEARCH_JAVA_OPTS": f"-Xms{self.heap_mb}m -Xmx{self.heap_mb}m"}
        log = (self.run_dir / "console.log").open("ab")
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log,
                                        cwd=self.run_dir, start_new_session=True)

    def start(self, timeout: float = 180.0) -> str:
        """Start the node (a new one, or again after :meth:`stop` with ``keep=True``) and
        wait until the cluster is green; returns the URL."""
        self.launch()
        self.wait_green(timeout)
        return self.url

    def kill(self) -> None:
        """Kill the node at once (SIGKILL, as a crash or a lost machine), keeping its data and
        ports for a :meth:`start` again."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def request(self, path: str, method: str = "GET", body: Any = None,
                timeout: float = 10.0) -> Any:
        """A JSON request to the node (its own credentials, demo certificates accepted)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        if self.security:
            token = b64encode(f"{self.user}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        context = None
        if self.security:  # demo certificates are self-signed
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return json.loads(response.read() or b"null")

    def wait_green(self, timeout: float = 180.0, nodes: int = 1) -> None:
        """Wait until the cluster answers green with ``nodes`` nodes (all shards assigned)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise OpenSearchUnavailable(f"OpenSearch exited ({self.process.returncode}); "
                                            f"see {self.run_dir}/console.log: {self._tail()}")
            try:
                health = self.request("/_cluster/health?wait_for_status=green&timeout=5s"
                                      f"&wait_for_nodes={int(nodes)}")
                if health.get("status") == "green" and not health.get("timed_out"):
                    return
            except (OSError, urllib.error.URLError, ValueError):
                time.sleep(1.0)
        raise OpenSearchUnavailable(f"OpenSearch was not green within {timeout:.0f} s: "
                                    f"{self._tail()}")

    def _tail(self) -> str:
        if self.run_dir is None or not (self.run_dir / "console.log").is_file():
            return ""
        lines = (self.run_dir / "console.log").read_text(errors="replace").splitlines()
        return " | ".join(line for line in lines[-5:] if line.strip())[-800:]

    def stop(self, keep: bool = False) -> None:
        """Stop the node; ``keep`` keeps its data and ports for a :meth:`start` again."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self.process = None
        if not keep and self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None

    def restart(self, timeout: float = 180.0) -> None:
        """Stop and start again on the same ports, with the same data."""
        self.stop(keep=True)
        self.start(timeout)

    def __enter__(self) -> OpenSearchNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
