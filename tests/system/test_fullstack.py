"""The full stack without Docker: the compose deployment minus the containers. The whole
notebook pipeline runs against the throwaway PostgreSQL and the local OpenSearch node with
the variables the compose file sets, then the API serves from them and every endpoint is
called."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from support import REPO, served

from recsys import datasets

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.opensearch]


def call(url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None,
                                     method="POST" if body else "GET",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_pipeline_and_api_on_postgres_and_opensearch(tmp_path: Path, postgres_url: str,
                                                     opensearch_node: Any) -> None:
    from recsys import db
    from recsys.db.schema import Base

    engine = db.make_engine(postgres_url)
    Base.metadata.drop_all(engine)
    engine.dispose()
    data_dir = tmp_path / "data"
    datasets.save(datasets.synthetic(n_users=60, n_movies=80, ratings_per_user=20, seed=4),
                  data_dir)
    env = {**os.environ, "RECSYS_DATA_DIR": str(data_dir), "RECSYS_VAR_DIR": str(tmp_path / "var"),
           "RECSYS_DATABASE_URL": postgres_url, "RECSYS_VECTOR_BACKEND": "opensearch",
           "RECSYS_OPENSEARCH_URL": opensearch_node.url}
    done = subprocess.run([sys.executable, "-m", "recsys.cli", "pipeline", "--runs-dir",
                           str(tmp_path / "runs"), "-p", "epochs", "3", "-p", "ensemble", "1"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run_dir = next((tmp_path / "runs").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["metrics"]["01_ingestion"]["counts"]["scores"] == 1200
    assert opensearch_node.request("/_cat/indices?format=json")  # the vectors went there
    with served(REPO, env) as base:
        status, health = call(base + "/health")
        assert status == 200, health
        assert health["database"]["dialect"] == "postgresql"
        assert health["vector_store"]["backend"] == "opensearch"
        for path in ("/ping", "/movies/3", "/movies?genre=Action&per_page=5", "/scores/4",
                     "/users/4", "/clusters", "/recommendations?user_id=4&k=5",
                     "/similar_movies?movie_id=3&k=5",
                     "/similar_movies?movie_id=3&k=5&kind=content"):
            status, body = call(base + path)
            assert status == 200, (path, body)
        status, body = call(base + "/scores", {"user_id": 4, "movie_id": 80, "rating": 4})
        assert status in (201, 409), body
        assert call(base + "/movies/999999")[0] == 404
