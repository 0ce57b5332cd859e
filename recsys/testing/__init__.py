"""Throwaway servers for tests and benchmarks (never used by the running system): a
PostgreSQL cluster (:mod:`.postgres`) and an OpenSearch node (:mod:`.opensearch`)."""
