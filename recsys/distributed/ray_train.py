"""``recsys train --ray ADDRESS [--workers N]``: the model trained by Ray Train.

Ray Train's ``TensorflowTrainer`` starts N worker processes on the cluster's nodes (one CPU
each), writes each one's ``TF_CONFIG`` and runs :func:`_train_worker` in all of them. That is
the same training as ``recsys train`` under a ``TF_CONFIG`` cluster (:mod:`recsys.models
.distribute`): every worker reads the ratings, builds a ``MultiWorkerMirroredStrategy`` and
runs :func:`recsys.training.train` under it, so the networks are trained with their
gradients all-reduced between workers; EASE, iALS and the blend are fitted in each worker on
the same data (the same seeds: the same result), and only the chief (worker 0) saves the
artifact, exactly as a plain run does. No second training loop.

What every node needs: the database (PostgreSQL; refused in one line for a SQLite file on a
cluster of several nodes) and ``RECSYS_VAR_DIR`` on a folder every node sees (the chief writes
the model there; on one machine it is simply the folder).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from recsys.config import Settings
from recsys.distributed.ray_jobs import Say, alive_nodes, check_shared, connect
from recsys.errors import RecsysError, UsageError


def _train_worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: the plain training under the strategy Ray's ``TF_CONFIG``
    describes; the chief saves and reports the version and the metrics."""
    # Ray asks TensorFlow for the legacy Keras 2; the networks are Keras 3
    os.environ.pop("TF_USE_LEGACY_KERAS", None)
    import ray.train

    from recsys import db, training
    from recsys.models import distribute

    strategy = distribute.multi_worker()  # first, as TensorFlow requires
    settings: Settings = config["settings"]
    engine = db.make_engine(settings.database_url)
    try:
        data = db.read_dataset(engine)
    finally:
        engine.dispose()
    chief = distribute.is_chief()
    model, _ = training.train(data, Path(config["model_dir"]), config["model_config"],
                              holdout=config["holdout"], k=config["k"], progress=False,
                              save=chief, keep=settings.keep_versions, strategy=strategy)
    # the chief has saved the artifact (its LATEST is what the driver reads back)
    ray.train.report({"chief": chief, "fit_seconds": model.fit_seconds or 0.0})


def train(settings: Settings, address: str, model_config: Any, model_dir: Path,
          workers: int | None = None, holdout: float = 0.1, k: int = 10,
          say: Say = print) -> tuple[str, dict[str, Any]]:
    """Train on the Ray cluster at ``address`` with ``workers`` workers (default: one per
    node); returns the saved version and its metrics."""
    ray = connect(address)
    nodes = alive_nodes(ray)
    check_shared(settings, nodes)
    count = workers or nodes
    if count < 1:
        raise UsageError(f"--workers must be at least 1, got {count}")
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if cpus < count:  # Ray would wait for them for ever
        raise UsageError(f"--workers {count} needs {count} CPUs (one per worker) and the Ray "
                         f"cluster at {address} has {cpus}: add nodes or ask for fewer workers")
    from ray.train import RunConfig, ScalingConfig
    from ray.train.tensorflow import TensorflowTrainer

    say(f"Training with {count} worker(s) on the Ray cluster at {address} ({nodes} node(s))")
    started = time.perf_counter()
    trainer = TensorflowTrainer(
        _train_worker,
        train_loop_config={"settings": settings, "model_config": model_config,
                           "model_dir": str(model_dir), "holdout": holdout, "k": k},
        scaling_config=ScalingConfig(num_workers=count, use_gpu=False,
                                     resources_per_worker={"CPU": 1}),
        run_config=RunConfig(name=f"recsys-train-{time.strftime('%Y%m%dT%H%M%S')}",
                             storage_path=str(settings.var_dir / "ray")))
    before = _latest(model_dir)
    try:
        trainer.fit()
    except Exception as exc:  # Ray wraps the worker's error: say it in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecsysError(f"training on the Ray cluster at {address} failed: {first}") from exc
    version = _latest(model_dir)
    if version is None or version == before:
        raise RecsysError(f"training on Ray finished but no new model is in {model_dir}: is "
                          "RECSYS_VAR_DIR a folder every node of the cluster sees?")
    say(f"  trained in {time.perf_counter() - started:.1f} s on {count} worker(s)")
    meta = json.loads((model_dir / version / "meta.json").read_text())
    return version, dict(meta.get("metrics") or {})


def _latest(model_dir: Path) -> str | None:
    """The version ``LATEST`` names under ``model_dir`` (None: none yet)."""
    try:
        return (model_dir / "LATEST").read_text().strip() or None
    except OSError:
        return None
