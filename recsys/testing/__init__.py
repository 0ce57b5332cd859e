"""Throwaway servers for tests and benchmarks (never used by the running system): a
PostgreSQL cluster (:mod:`.postgres`) and an OpenSearch node (:mod:`.opensearch`)."""

import os


def as_root() -> bool:
    """Whether this process runs as root: PostgreSQL and OpenSearch refuse to, so their
    servers then run as a system user of their own."""
    return hasattr(os, "geteuid") and os.geteuid() == 0
