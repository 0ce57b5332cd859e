"""Throwaway servers for tests and benchmarks (never used by the running system, and left out
of the built package): a PostgreSQL cluster (:mod:`.postgres`), an OpenSearch node or cluster
(:mod:`.opensearch`, :mod:`.opensearch_cluster`, :mod:`.opensearch_cli`), pgAdmin, the whole
stack, free ports, and headless Chromium (:mod:`.browser`)."""

import os


def as_root() -> bool:
    """Whether this process runs as root: PostgreSQL and OpenSearch refuse to, so their
    servers then run as a system user of their own."""
    return hasattr(os, "geteuid") and os.geteuid() == 0
