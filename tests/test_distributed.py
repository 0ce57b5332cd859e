"""Training past one machine on TensorFlow's own engine: ``recsys train`` under
``MultiWorkerMirroredStrategy`` with two worker processes on loopback (``TF_CONFIG``) gives a
model of the same quality as one worker, and only the chief saves it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recsys.data.generate import generate
from recsys.testing.ports import free_port

pytestmark = pytest.mark.slow

TRAIN = [sys.executable, "-m", "recsys.cli", "train", "--holdout", "0.1", "--epochs", "4"]


def _metrics(output: str) -> dict:
    """The metrics JSON ``recsys train`` prints (from its first ``{`` line to the ``}``)."""
    lines = output.splitlines()
    start = lines.index("{")
    end = lines.index("}", start)
    return json.loads("\n".join(lines[start:end + 1]))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("distributed")
    generate(folder / "data", 250, 300, 20_000, seed=3, clusters=4)
    env = {**os.environ, "RECSYS_DATABASE_URL": f"sqlite:///{folder / 'db.sqlite'}",
           "RECSYS_DATA_DIR": str(folder / "data"), "RECSYS_VAR_DIR": str(folder / "var"),
           "RECSYS_SEED": "7", "CUDA_VISIBLE_DEVICES": "-1"}
    env.pop("TF_CONFIG", None)
    subprocess.run([sys.executable, "-m", "recsys.cli", "ingest"], env=env, check=True,
                   capture_output=True, text=True, timeout=300)
    return env


def test_two_workers_train_a_model_as_good_as_one(world: dict[str, str], tmp_path: Path) -> None:
    single = subprocess.run([*TRAIN, "--model-dir", str(tmp_path / "single"), "--quiet"],
                            env=world, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    alone = _metrics(single.stdout)

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
    together = _metrics(outputs[0][1])
    assert "the chief saved the model" in outputs[1][1]
    saved = [p for p in (tmp_path / "pair").iterdir() if p.is_dir()]
    assert len(saved) == 1, "only the chief writes an artifact"

    results = together["holdout"]["results"]
    model, biases = results["model"], results["biases"]
    reference = alone["holdout"]["results"]["model"]
    # same quality as one worker: within noise of it, and still ahead of the biases baseline
    assert model["rmse"] <= reference["rmse"] + 0.03, (model, reference)
    assert model["rmse"] < biases["rmse"], (model, biases)
    assert model["ndcg@10"] >= reference["ndcg@10"] - 0.03, (model, reference)
