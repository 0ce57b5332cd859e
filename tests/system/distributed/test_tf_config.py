"""Training past one machine on TensorFlow's own engine: ``recsys train`` under
``MultiWorkerMirroredStrategy`` with two worker processes on loopback (``TF_CONFIG``) gives a
model of the same quality as one worker, and only the chief saves it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support import TRAIN, as_good_as_one_worker, train_metrics

from recsys.testing.ports import free_port

pytestmark = pytest.mark.slow


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
