"""pgAdmin 4 (from PyPI, in a virtualenv of its own) loads the compose file's pre-registered
server with its own ``setup.py load-servers``, and connects through its web application to
the throwaway PostgreSQL the test run starts (standing in for the compose network's
``postgres`` host)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from support import REPO

from recsys.testing import pgadmin

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_pgadmin_loads_the_registered_server_and_connects(tmp_path: Path,
                                                         postgres_url: str) -> None:
    servers_file = REPO / "docker" / "pgadmin" / "servers.json"
    stored = pgadmin.load_servers(servers_file, tmp_path / "compose")
    assert len(stored) == 1
    server = stored[0]
    assert (server["Name"], server["Group"], server["Host"], server["Port"],
            server["Username"], server["MaintenanceDB"]) == (
        "recsys (docker compose)", "recsys", "postgres", 5432, "recsys", "recsys")
    # here the compose network's "postgres:5432" is the throwaway cluster
    url = make_url(postgres_url)
    local = json.loads(servers_file.read_text())
    local["Servers"]["1"].update(Host=url.host, Port=url.port)
    local_file = tmp_path / "servers.json"
    local_file.write_text(json.dumps(local))
    loaded = pgadmin.load_servers(local_file, tmp_path / "local")
    answer = pgadmin.connect(loaded[0]["id"], tmp_path / "local")
    assert answer["status"] == 200, answer
    assert answer["body"]["success"] == 1 and answer["body"]["data"]["connected"], answer
