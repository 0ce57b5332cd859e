"""Full-stack deployment files, checked without a Docker engine: the compose file parses and
wires services the way the README says, secrets come from .env, and every variable the
compose file and the code read is documented in .env.example."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from support import REPO

from recsys.config import VARIABLES

ROOT = Path(__file__).resolve().parents[3]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_services_and_dependencies() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "pgadmin", "opensearch", "pipeline", "api"}
    for name in ("postgres", "opensearch", "api"):
        assert "healthcheck" in services[name], name
    assert services["api"]["depends_on"]["pipeline"]["condition"] == \
        "service_completed_successfully"
    for name in ("pipeline", "api"):
        for dependency in ("postgres", "opensearch"):
            assert services[name]["depends_on"][dependency]["condition"] == "service_healthy"
    assert services["pipeline"]["restart"] == "no"
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert any("servers.json" in v for v in services["pgadmin"]["volumes"])
    env = services["api"]["environment"]
    assert env["RECSYS_VECTOR_BACKEND"] == "opensearch"
    assert env["RECSYS_DATABASE_URL"].startswith("postgresql+psycopg2://")
    assert services["opensearch"]["environment"]["discovery.type"] == "single-node"


def test_compose_runs_the_versions_the_tests_run() -> None:
    """The images are the versions the local full stack (tests/test_fullstack.py,
    tests/test_pgadmin.py) exercises: OpenSearch from Maven Central, pgAdmin from PyPI and the
    PostgreSQL major of the server binaries."""
    from recsys.testing import opensearch, pgadmin
    from recsys.testing.postgres import find_bin_dir

    services = _compose()["services"]
    assert services["opensearch"]["image"].endswith(f":-{opensearch.VERSION}}}")
    assert services["pgadmin"]["image"] == f"dpage/pgadmin4:{pgadmin.PACKAGE.split('==')[1]}"
    major = re.search(r"/postgresql/(\d+)/", str(find_bin_dir()))
    assert major is not None
    assert services["postgres"]["image"] == f"postgres:{major.group(1)}"
    example = (ROOT / ".env.example").read_text()
    assert f"OPENSEARCH_VERSION={opensearch.VERSION}" in example


def test_no_literal_secrets_in_compose() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for line in text.splitlines():
        if re.search(r"PASSWORD\s*[:=]", line):
            assert "${" in line, line


def test_pgadmin_server_is_preregistered_without_password() -> None:
    servers = json.loads((ROOT / "docker" / "pgadmin" / "servers.json").read_text())
    server = servers["Servers"]["1"]
    assert server["Host"] == "postgres" and server["Port"] == 5432
    assert not any("pass" in key.lower() for key in server)


def test_every_variable_is_documented_in_env_example() -> None:
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(),
                                re.M))
    compose_vars = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]+)", (ROOT / "docker-compose.yml")
                                  .read_text()))
    missing = (compose_vars | {v for v in VARIABLES if v != "RECSYS_PG_BIN"}) - documented
    assert not missing, f"undocumented in .env.example: {sorted(missing)}"


def test_dockerfile_installs_the_package_and_serves() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install \".[ml,api,notebooks]\"" in text
    assert "COPY notebooks" in text and "USER recsys" in text
    assert '"recsys", "serve"' in text


def test_readme_documents_every_variable_and_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in VARIABLES:
        assert f"`{name}`" in readme, name
    first_block = readme.split("```")[1]
    assert "make run" in first_block and "make test" in first_block
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_compose_publishes_ports_on_loopback_only() -> None:
    import yaml

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith(("127.0.0.1:", "${RECSYS_BIND:-127.0.0.1}:")), (
                name, port)
