"""OpenSearch that outlives the command, for people without Docker:
``python -m recsys.testing.opensearch_cli start [--security] [--nodes N]`` (``make opensearch``,
``make opensearch-cluster``) starts a node or a cluster that keeps running and prints
``RECSYS_OPENSEARCH_URL=...`` last (the nodes' URLs, comma-separated); ``stop`` stops it;
``prepare`` assembles the distribution from Maven Central only."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from recsys.testing.opensearch import OpenSearchNode, OpenSearchUnavailable, cache_dir, prepare
from recsys.testing.opensearch_cluster import OpenSearchCluster

# -- a node that outlives the command (make opensearch) --------------------------------------


def _state_file() -> Path:
    return cache_dir() / "running.json"


def start_detached(security: bool, nodes: int = 1) -> dict[str, Any]:
    """Start a node (or a cluster of ``nodes``) that keeps running after this process ends;
    its state goes to the cache."""
    state_file = _state_file()
    if state_file.is_file():
        state = json.loads(state_file.read_text())
        try:
            for pid in state.get("pids", [state.get("pid")]):
                os.kill(int(pid), 0)
            return state  # one is running already
        except (OSError, TypeError):
            state_file.unlink()
    if nodes > 1:
        if security:
            raise OpenSearchUnavailable("the secured variant runs as one node (--nodes 1)")
        cluster = OpenSearchCluster(nodes)
        cluster.start()
        members = cluster.nodes
        url = cluster.url
    else:
        node = OpenSearchNode(security=security)
        node.start()
        members, url = [node], node.url
    state = {"pids": [n.process.pid for n in members if n.process is not None], "url": url,
             "run_dirs": [str(n.run_dir) for n in members], "security": security,
             "user": members[0].user}
    state_file.write_text(json.dumps(state))
    return state


def stop_detached() -> bool:
    """Stop what :func:`start_detached` started; False when nothing runs."""
    state_file = _state_file()
    if not state_file.is_file():
        return False
    state = json.loads(state_file.read_text())
    for pid in state.get("pids", [state.get("pid")]):
        try:
            os.killpg(int(pid), signal.SIGTERM)
            for _ in range(60):
                os.kill(int(pid), 0)
                time.sleep(1)
        except (OSError, TypeError):
            pass
    for folder in state.get("run_dirs", [state.get("run_dir")]):
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
    state_file.unlink()
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recsys.testing.opensearch_cli",
                                     description="A local OpenSearch node (k-NN, ML Commons).")
    parser.add_argument("action", choices=["start", "stop", "prepare"])
    parser.add_argument("--security", action="store_true",
                        help="TLS with demo certificates, admin password from "
                             "OPENSEARCH_ADMIN_PASSWORD")
    parser.add_argument("--nodes", type=int, default=1,
                        help="start a cluster of this many nodes (each 256 MB of heap)")
    args = parser.parse_args(argv)
    try:
        if args.action == "prepare":
            print(prepare(args.security))
        elif args.action == "stop":
            print("stopped" if stop_detached() else "no node was running")
        else:
            state = start_detached(args.security, args.nodes)
            if state.get("security"):
                print("RECSYS_OPENSEARCH_USER=admin\nRECSYS_OPENSEARCH_VERIFY_CERTS=false")
            print(f"RECSYS_OPENSEARCH_URL={state['url']}")
    except OpenSearchUnavailable as exc:
        print(f"opensearch: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
