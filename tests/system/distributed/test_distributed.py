"""Work past one machine (recsys/distributed/, recsys/models/distribute.py): ``recsys train``
under ``MultiWorkerMirroredStrategy`` with two worker processes on loopback (``TF_CONFIG``), and
on a two-node Ray cluster on loopback (Ray Train), each as good as one worker with only the
chief saving; ``predict`` and ``index`` as Ray tasks giving the rows of a plain run, a killed
node losing and doubling nothing. The one-worker run both compare with is built once: its
tests share this file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select
from support import TRAIN, as_good_as_one_worker, train_metrics

from recsys import datasets, db
from recsys.db.schema import Base, Prediction
from recsys.testing.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.postgres]


TOP_N = 20


#: Ray's switch that keeps every node and driver on the loopback address (127.0.0.1), so
#: the test cluster talks over loopback only.
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[tuple[Any, Any]]:
    """A head node and a worker node on loopback, one CPU each, small object stores. The
    environment is restored whole afterwards: Ray also sets variables of its own
    (``PYTHONBREAKPOINT``, ``RAY_CLIENT_MODE``) that later tests' subprocesses would inherit."""
    saved = dict(os.environ)
    os.environ.update(LOOPBACK)
    from ray import cluster_utils

    options = {"num_cpus": 1, "object_store_memory": 80 * 2**20}
    cluster = cluster_utils.Cluster(initialize_head=True,
                                    head_node_args={**options, "include_dashboard": False})
    worker = cluster.add_node(**options)
    cluster.wait_for_nodes()
    assert cluster.address.startswith("127.0.0.1:"), cluster.address
    yield cluster, worker
    cluster.shutdown()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, postgres_url: str,
          api_data: datasets.Dataset, api_model_root: Path, api_model: Any) -> dict[str, str]:
    """The API's synthetic data in the throwaway PostgreSQL, its trained model saved where
    every node reads it (one machine: one folder)."""
    folder = tmp_path_factory.mktemp("ray")
    engine = db.make_engine(postgres_url)
    Base.metadata.drop_all(engine)
    db.create_schema(engine)
    db.ingest(api_data, engine)
    engine.dispose()
    shutil.copytree(api_model_root, folder / "var" / "model")
    env = {**os.environ, **LOOPBACK, "RECSYS_DATABASE_URL": postgres_url,
           "RECSYS_VAR_DIR": str(folder / "var"), "RECSYS_VECTOR_BACKEND": "local"}
    env.pop("RECSYS_RAY_ADDRESS", None)
    return env


def recsys(args: list[str], env: dict[str, str], timeout: float = 600
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recsys.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def stored(url: str) -> pd.DataFrame:
    """The predictions table, in a fixed order."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Prediction.user_id, Prediction.rank, Prediction.movie_id,
                                       Prediction.predicted_rating, Prediction.score,
                                       Prediction.model_version)).all()
    finally:
        engine.dispose()
    frame = pd.DataFrame(rows, columns=["user_id", "rank", "movie_id", "predicted_rating",
                                        "score", "model_version"])
    return frame.sort_values(["user_id", "rank"]).reset_index(drop=True)


def test_two_workers_train_a_model_as_good_as_one(training_world: dict[str, str],
                                                  one_worker_metrics: dict[str, Any],
                                                  tmp_path: Path) -> None:
    world, alone = training_world, one_worker_metrics

    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workers = []
    for index in range(2):
        env = {**world, "TF_CONFIG": json.dumps({"cluster": cluster,
                                                 "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(
            [*TRAIN, "--model-dir", str(tmp_path / "pair"), "--quiet"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    try:
        for worker in workers:
            out, err = worker.communicate(timeout=900)
            outputs.append((worker.returncode, out, err))
    finally:
        for worker in workers:
            worker.kill()
    for code, _out, err in outputs:
        assert code == 0, err[-3000:]
    together = train_metrics(outputs[0][1])
    assert "the chief saved the model" in outputs[1][1]
    saved = [p for p in (tmp_path / "pair").iterdir() if p.is_dir()]
    assert len(saved) == 1, "only the chief writes an artifact"

    as_good_as_one_worker(together, alone)


def test_predict_on_ray_stores_the_rows_of_a_plain_run(ray_cluster: tuple[Any, Any],
                                                       world: dict[str, str]) -> None:
    cluster, _ = ray_cluster
    plain = recsys(["predict", "--top-n", str(TOP_N)], world)
    assert plain.returncode == 0, plain.stderr[-2000:]
    expected = stored(world["RECSYS_DATABASE_URL"])
    assert len(expected) == TOP_N * expected["user_id"].nunique()
    done = recsys(["predict", "--ray", cluster.address, "--shards", "3", "--top-n", str(TOP_N)],
                  world)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.strip().startswith("shard ")]
    assert sorted(line.split()[1] for line in lines) == ["0/3", "1/3", "2/3"], done.stdout
    pd.testing.assert_frame_equal(stored(world["RECSYS_DATABASE_URL"]), expected)


def test_index_on_ray_writes_the_vectors_of_a_plain_run(ray_cluster: tuple[Any, Any],
                                                        world: dict[str, str],
                                                        opensearch_node: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from recsys.config import get_settings
    from recsys.vectors import open_store

    cluster, _ = ray_cluster
    env = {**world, "RECSYS_VECTOR_BACKEND": "opensearch",
           "RECSYS_OPENSEARCH_URL": opensearch_node.url}
    plain = recsys(["index"], env)
    assert plain.returncode == 0, plain.stderr[-2000:]
    for name in ("RECSYS_VECTOR_BACKEND", "RECSYS_OPENSEARCH_URL"):
        monkeypatch.setenv(name, env[name])
    store = open_store(get_settings(env_file=None))
    names = ["movies_content", "users_content", "movies_learned", "users_learned"]
    before = {name: {i: store.get(name, i) for i in (1, 2, 3)} for name in names}
    counts = {name: store.count(name) for name in names}
    done = recsys(["index", "--ray", cluster.address, "--shards", "2"], env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len([line for line in done.stdout.splitlines() if "done on" in line]) == 2
    for name in names:
        assert store.count(name) == counts[name], name
        for i, record in before[name].items():
            again = store.get(name, i)
            assert record is not None and again is not None
            assert list(again.vector) == pytest.approx(list(record.vector), abs=1e-6)


def test_what_a_cluster_cannot_reach_is_one_line(ray_cluster: tuple[Any, Any],
                                                 world: dict[str, str],
                                                 tmp_path: Path) -> None:
    cluster, _ = ray_cluster
    sqlite = {**world, "RECSYS_DATABASE_URL": f"sqlite:///{tmp_path / 'here.db'}"}
    for args, env, says in (
            (["predict", "--ray", cluster.address], sqlite, "SQLite file on this machine"),
            (["index", "--ray", cluster.address], world, "RECSYS_VECTOR_BACKEND=opensearch"),
            (["predict", "--ray"], world, "RECSYS_RAY_ADDRESS"),
            (["predict", "--shards", "2"], world, "--shards goes with --ray"),
            (["predict", "--ray", "127.0.0.1:1"], world, "cannot join the Ray cluster"),
            (["train", "--ray", cluster.address], sqlite, "SQLite file on this machine"),
            (["train", "--ray", cluster.address, "--workers", "3"], world,
             "needs 3 CPUs (one per worker)"),
            (["train", "--workers", "2"], world, "--workers goes with --ray")):
        done = recsys(args, env, timeout=120)
        assert done.returncode == 2, (args, done.stderr[-2000:])
        assert says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_train_on_ray_is_as_good_as_one_worker_and_the_chief_saves(
        ray_cluster: tuple[Any, Any], postgres_url: str, training_world: dict[str, str],
        one_worker_metrics: dict[str, Any], tmp_path: Path) -> None:
    """``recsys train --ray``: Ray Train's TensorflowTrainer runs the plain training in two
    workers, one on each node (MultiWorkerMirroredStrategy from Ray's TF_CONFIG); the model
    is as good as one worker's on the same ratings, and only the chief's artifact is saved."""
    from sqlalchemy.engine import make_url

    cluster, _ = ray_cluster
    admin = db.make_engine(postgres_url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("DROP DATABASE IF EXISTS ray_train")
        conn.exec_driver_sql("CREATE DATABASE ray_train")
    admin.dispose()
    url = make_url(postgres_url).set(database="ray_train").render_as_string(hide_password=False)
    env = {**training_world, **LOOPBACK, "RECSYS_DATABASE_URL": url,
           "RECSYS_VAR_DIR": str(tmp_path / "var")}
    assert recsys(["ingest"], env).returncode == 0
    done = recsys([*TRAIN[3:], "--quiet", "--ray", cluster.address, "--workers", "2"], env,
                  timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "Training with 2 worker(s)" in done.stdout
    together = json.loads(done.stdout[done.stdout.index("{"):done.stdout.rindex("}") + 1])
    as_good_as_one_worker(together, one_worker_metrics)
    saved = [p for p in (tmp_path / "var" / "model").iterdir() if p.is_dir()]
    assert len(saved) == 1 and (tmp_path / "var" / "model" / "LATEST").read_text().strip() \
        == saved[0].name


def test_a_worker_node_killed_mid_run_loses_and_doubles_nothing(
        ray_cluster: tuple[Any, Any], world: dict[str, str]) -> None:
    """(Last in this file: the cluster has one node left after it.)"""
    cluster, worker = ray_cluster
    plain = recsys(["predict", "--top-n", str(TOP_N)], world)
    assert plain.returncode == 0, plain.stderr[-2000:]
    expected = stored(world["RECSYS_DATABASE_URL"])
    raylet = worker.all_processes["raylet"][0].process
    job = subprocess.Popen([sys.executable, "-m", "recsys.cli", "predict", "--ray",
                            cluster.address, "--shards", "6", "--top-n", str(TOP_N)],
                           env=world, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert job.stdout is not None
    first = job.stdout.readline()  # the tasks are placed once the run announces them
    assert first.startswith("Batch prediction in 6 shard(s)"), first
    time.sleep(0.5)
    os.kill(raylet.pid, signal.SIGKILL)
    out, err = job.communicate(timeout=600)
    assert job.returncode == 0, err[-3000:]
    assert raylet.wait(timeout=10) is not None
    finished = [line for line in out.splitlines() if "done on" in line]
    assert len(finished) == 6, out
    # the worker took a task when the run began (one CPU per node) and died within half a
    # second, before any shard could finish: every shard finished on the head, so the
    # worker's task was run again there
    assert all(f"node {cluster.head_node.node_id[:8]}" in line for line in finished), out
    after = stored(world["RECSYS_DATABASE_URL"])
    assert not after.duplicated(["user_id", "rank"]).any()
    assert not after.duplicated(["user_id", "movie_id"]).any()
    pd.testing.assert_frame_equal(after, expected)
