"""``recsys serve`` under gunicorn (recsys/api/server.py): workers share one read model and answer
their own errors as JSON."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support import REPO, cli_env, serve_world, served

from recsys import datasets, db
from recsys.models import Recommender


def test_gunicorn_shares_one_read_model_and_answers_its_errors_as_json(
        api_data: datasets.Dataset, api_model: Recommender, tmp_path: Path) -> None:
    loaded = db.make_engine(f"sqlite:///{tmp_path / 'api.db'}")  # the framing is the server's
    world = serve_world(loaded, api_data, api_model, tmp_path)
    settings = world["settings"]
    api_model.save(settings.model_dir)
    env = {**cli_env(tmp_path, tmp_path, str(loaded.url)), "RECSYS_VAR_DIR": str(tmp_path)}
    console = tmp_path / "serve.log"
    with served(REPO, env, workers=2, log=console) as base:
        for url, headers, status in ((base + "/movies?title=" + "a" * 100_000, {}, 414),
                                     (base + "/ping", {"X-Big": "b" * 100_000}, 431)):
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10)
            assert caught.value.code == status
            assert caught.value.headers["Content-Type"] == "application/problem+json"
            assert json.loads(caught.value.read())["status"] == status
        for _ in range(2):  # both workers answer from the read model
            with urllib.request.urlopen(base + "/recommendations?user_id=1&k=3") as answer:
                assert answer.status == 200
    # the master read the ratings once; the workers started from its copy, not reading again
    lines = console.read_text().splitlines()
    assert sum("read model loaded for the workers" in line for line in lines) == 1, lines
    assert not [line for line in lines if "read model loaded:" in line], lines
