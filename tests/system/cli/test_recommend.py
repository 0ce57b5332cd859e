"""``recsys recommend``: one user's top movies with reasons, as the API answers them, and a new
user's from ratings given on the command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from recsys import datasets, db
from recsys.predictions import batch

pytestmark = pytest.mark.training


@pytest.fixture
def env(loaded: Engine, api_data: datasets.Dataset, api_model: Any, api_model_root: Path,
        tmp_path: Path) -> dict[str, str]:
    """``api_data`` in the database with stored predictions, the model where the CLI looks."""
    db.ingest(api_data, loaded, replace=True, force=True)
    batch.run(loaded, api_model, top_n=20)
    shutil.copytree(api_model_root, tmp_path / "var" / "model")
    out = {**os.environ, "RECSYS_VAR_DIR": str(tmp_path / "var"),
           "RECSYS_DATABASE_URL": loaded.url.render_as_string(hide_password=False)}
    return out


def recommend(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recsys.cli", "recommend", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_known_user_gets_the_apis_answer_with_reasons(env: dict[str, str],
                                                        api_data: datasets.Dataset) -> None:
    user = int(api_data.users["id"].iloc[2])
    done = recommend(str(user), "--k", "5", "--json", env=env)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["user_id"] == user and payload["source"] == "stored"
    recs = payload["recommendations"]
    assert [r["rank"] for r in recs] == [1, 2, 3, 4, 5]
    rated = set(api_data.scores.loc[api_data.scores["user_id"] == user, "movie_id"])
    assert not rated & {r["movie_id"] for r in recs}
    titles = dict(zip(api_data.movies["id"], api_data.movies["title"]))
    assert all(r["title"] == titles[r["movie_id"]] for r in recs)
    assert all(r["reason"]["text"].startswith("because you rated") for r in recs)
    table = recommend(str(user), "--k", "3", env=env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.strip().splitlines()
    assert lines[0].startswith(f"Top 3 for user {user}") and len(lines) == 4
    assert recs[0]["title"] in lines[1] and "predicted" in lines[1]


def test_an_unknown_user_is_one_line(env: dict[str, str]) -> None:
    done = recommend("99999", env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == ("recsys: error: user 99999 does not exist (`recsys "
                                   "recommend --rated MOVIE:RATING,...` recommends for "
                                   "someone new)")


def test_a_new_user_from_given_ratings(env: dict[str, str],
                                       api_data: datasets.Dataset) -> None:
    first, second = (int(m) for m in api_data.movies["id"].iloc[:2])
    done = recommend("--rated", f"{first}:5,{second}:4", "--k", "6", "--json", env=env)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    recs = payload["recommendations"]
    assert len(recs) == 6 and not {first, second} & {r["movie_id"] for r in recs}
    assert payload["cold_start"] is False  # they rated something: not the cold-start text
    titles = dict(zip(api_data.movies["id"], api_data.movies["title"]))
    assert any(titles[first] in r["reason"]["text"] or titles[second] in r["reason"]["text"]
               for r in recs)
    for bad, says in (("50", "MOVIE:RATING"), (f"{first}:7", "rating must be"),
                      ("99999:4", "no movie 99999")):
        wrong = recommend("--rated", bad, env=env)
        assert wrong.returncode == 2 and says in wrong.stderr, wrong.stderr
        assert len(wrong.stderr.strip().splitlines()) == 1
