"""The full stack without Docker (``make stack``): the compose deployment minus the containers.

A throwaway PostgreSQL 15 cluster and a local OpenSearch node (k-NN, ML Commons) are started,
the whole notebook pipeline runs against them with the same variables the compose file sets
(``RECSYS_DATABASE_URL``, ``RECSYS_VECTOR_BACKEND=opensearch``, ``RECSYS_OPENSEARCH_*``), then
the API serves from them until interrupted, and everything is stopped.

Usage: ``python -m recsys.testing.stack [--synthetic] [--port 8000] [-p NAME VALUE ...]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from recsys.testing.opensearch import OpenSearchNode
from recsys.testing.postgres import TemporaryPostgres


@contextmanager
def services(security: bool = False) -> Iterator[dict[str, str]]:
    """PostgreSQL and OpenSearch running; yields the variables that point the system at them
    (what the compose file's ``x-recsys-env`` sets)."""
    with ExitStack() as stack:
        postgres = stack.enter_context(TemporaryPostgres())
        node = stack.enter_context(OpenSearchNode(security=security))
        env = {"RECSYS_DATABASE_URL": postgres.url, "RECSYS_VECTOR_BACKEND": "opensearch",
               "RECSYS_OPENSEARCH_URL": node.url}
        if security:
            env.update(RECSYS_OPENSEARCH_USER=node.user, RECSYS_OPENSEARCH_PASSWORD=node.password,
                       RECSYS_OPENSEARCH_VERIFY_CERTS="false")
        yield env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recsys.testing.stack",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="a small synthetic dataset")
    parser.add_argument("--port", type=int, default=8000, help="the API's port")
    parser.add_argument("--security", action="store_true",
                        help="OpenSearch with TLS and a password (OPENSEARCH_ADMIN_PASSWORD)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help="notebook parameter override")
    args = parser.parse_args(argv)
    with services(args.security) as variables:
        env = {**os.environ, **variables}
        for name, value in variables.items():
            shown = "***" if "PASSWORD" in name else value
            print(f"{name}={shown}", flush=True)
        pipeline = [sys.executable, "-m", "recsys.cli", "pipeline",
                    *(["--synthetic"] if args.synthetic else []),
                    *(token for pair in args.parameter for token in ("-p", *pair))]
        if subprocess.run(pipeline, env=env).returncode != 0:
            return 1
        print(f"Serving the API on http://127.0.0.1:{args.port} (Ctrl-C stops the stack)",
              flush=True)
        try:
            subprocess.run([sys.executable, "-m", "recsys.cli", "serve", "--port",
                            str(args.port)], env=env)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
