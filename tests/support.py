"""Helpers the tests share (fixtures are in conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from recsys import datasets, db
from recsys.config import Settings
from recsys.pipeline import runner as pipeline
from recsys.predictions import batch
from recsys.testing.ports import free_port
from recsys.vectors import embeddings
from recsys.vectors.base import VectorStoreUnavailable
from recsys.vectors.local import LocalVectorStore

#: The repository's root.
REPO = Path(__file__).resolve().parent.parent


def error_body(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == status and body.get("message") or body.get("errors")
    return body


def saved_to(dataset: datasets.Dataset, folder: Path) -> Path:
    """``dataset`` saved as the five CSVs in ``folder``."""
    datasets.save(dataset, folder)
    return folder


def problem(response: Any, status: int) -> dict[str, Any]:
    """Assert a problem+json answer with ``status`` that names the problem."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == body["code"] == status
    assert body["detail"] and body["detail"] == body["message"]
    return body


def write_csvs(tmp_path: Path, data: datasets.Dataset) -> Path:
    """``data`` saved as the five CSVs in ``tmp_path/csv``."""
    return saved_to(data, tmp_path / "csv")


def file_lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recsys.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, cwd=REPO)


def cli_env(tmp_path: Path, data_dir: Path, url: str) -> dict[str, str]:
    return {"RECSYS_DATA_DIR": str(data_dir), "RECSYS_VAR_DIR": str(tmp_path / "var"),
            "RECSYS_DATABASE_URL": url, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


#: The notebooks' names, in pipeline order.
NOTEBOOK_NAMES = list(pipeline.NOTEBOOKS)


def free_pairs(data: datasets.Dataset, n: int) -> list[tuple[int, int]]:
    """``n`` (user, movie) pairs nobody has rated yet, in a fixed order."""
    rated = set(zip(data.scores["user_id"], data.scores["movie_id"]))
    pairs = [(int(u), int(m)) for u in sorted(data.scores["user_id"].unique())
             for m in sorted(data.movies["id"]) if (u, m) not in rated]
    assert len(pairs) >= n
    return pairs[:n]


def serve_world(engine: Engine, data: datasets.Dataset, model: Any, folder: Path,
                top_n: int = 20) -> dict[str, Any]:
    """Everything the API serves from, built for real: ``data`` ingested (replacing what
    ``engine`` held), vectors indexed, batch predictions and clusters stored. Returns the
    keyword arguments of ``create_app``."""
    from recsys.vectors import clustering

    db.ingest(data, engine, replace=True, force=True)
    store = LocalVectorStore(folder / "vectors")
    embeddings.index_all(data, store, model)
    batch.run(engine, model, top_n=top_n)
    result = clustering.cluster_users(model.user_embeddings(), k=3, seed=0)
    clustering.store(engine, result, clustering.profiles(data, result), model.version)
    settings = Settings(data_dir=folder, var_dir=folder, database_url=str(engine.url))
    return {"settings": settings, "engine": engine, "store": store, "model": model}


def fresh_clone(target: Path) -> Path:
    """The repository's tracked and new files copied to ``target``, like a clone (no var/,
    runs/ or ignored files)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def clean_env(tmp_path: Path, clone: Path, **extra: str) -> dict[str, str]:
    """No RECSYS_* variable but the ones given; the clone's package first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_")}
    env.update(PYTHONPATH=str(clone), HOME=str(tmp_path), **extra)
    return env


@contextmanager
def served(cwd: Path, env: dict[str, str], wait: float = 90.0, workers: int = 1,
           log: Path | None = None) -> Iterator[str]:
    """``recsys serve`` (gunicorn, ``workers`` workers) started as users start it; yields its
    URL once /ping answers, and stops it afterwards. Its console goes to ``log`` (a file, so a
    chatty server never blocks on a full pipe)."""

    port = free_port()
    console = open(log, "w+") if log else tempfile.TemporaryFile("w+")  # noqa: SIM115
    server = subprocess.Popen([sys.executable, "-m", "recsys.cli", "serve", "--port", str(port),
                               "--workers", str(workers)], cwd=cwd, env=env,
                              stdout=subprocess.DEVNULL, stderr=console, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                urllib.request.urlopen(base + "/ping", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    console.seek(0)
                    pytest.fail("recsys serve did not answer: " + console.read()[-2000:])
                time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        console.close()


#: ``recsys train`` as the distributed tests run it (a 10 % holdout, one network of up to 4
#: epochs: what is compared is one worker against several, on the same configuration).
TRAIN = [sys.executable, "-m", "recsys.cli", "train", "--holdout", "0.1", "--epochs", "4",
         "--ensemble", "1"]


def train_metrics(output: str) -> dict[str, Any]:
    """The metrics JSON ``recsys train`` prints (from its first ``{`` line to the ``}``)."""
    lines = output.splitlines()
    start = lines.index("{")
    end = lines.index("}", start)
    return json.loads("\n".join(lines[start:end + 1]))


def as_good_as_one_worker(together: dict[str, Any], alone: dict[str, Any]) -> None:
    """Same quality as one worker: within noise of it, and still ahead of the biases
    baseline (on the holdout of the same ratings)."""
    results = together["holdout"]["results"]
    model, biases = results["model"], results["biases"]
    reference = alone["holdout"]["results"]["model"]
    assert model["rmse"] <= reference["rmse"] + 0.03, (model, reference)
    assert model["rmse"] < biases["rmse"], (model, biases)
    assert model["ndcg@10"] >= reference["ndcg@10"] - 0.03, (model, reference)


class DownStore:
    """A vector store that is down: every read raises :class:`VectorStoreUnavailable` with
    ``reason`` (what the driver said), and health checks see it down."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise VectorStoreUnavailable(self.reason)

    knn = get

    def ping(self) -> bool:
        return False

    def exists(self, name: str) -> bool:
        return False

    def version(self) -> Any:
        return ("down",)

    def problem(self) -> str:
        return "OpenSearch unreachable"


def two_kinds(data: datasets.Dataset, seed: int = 0) -> pd.DataFrame:
    """The first half of the users watch (and like) only the first 20 movies, the others only
    the next 20: a peer that learns anything recommends each user's own kind."""
    users = np.sort(data.users["id"].to_numpy())
    movies = np.sort(data.movies["id"].to_numpy())
    rng = np.random.default_rng(seed)
    rows = []
    for i, user in enumerate(users):
        pool = movies[:20] if i < len(users) // 2 else movies[20:40]
        for movie in rng.choice(pool, 12, replace=False):
            rows.append((user, movie, int(rng.integers(4, 6))))
    frame = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating"])
    return frame.assign(id=np.arange(1, len(frame) + 1))


def assert_recommends_own_kind(scorer: Any, train: pd.DataFrame,
                               data: datasets.Dataset) -> None:
    """On :func:`two_kinds`' world: the first and the last user's top 5 unseen movies are
    all of their own kind, and a user the training never saw scores 0 everywhere."""
    users = np.sort(data.users["id"].to_numpy())
    scores = scorer.score_items(np.array([users[0], users[-1]]))
    catalogue = scorer.movie_ids
    seen = train.groupby("user_id")["movie_id"].agg(set)
    for row, user, kind in ((0, users[0], set(catalogue[:20])),
                            (1, users[-1], set(catalogue[20:40]))):
        ranked = [m for m in catalogue[np.argsort(-scores[row], kind="stable")]
                  if m not in seen[user]]
        assert set(ranked[:5]) <= kind, (user, ranked[:5])
    assert not scorer.score_items(np.array([10_000_000])).any()
