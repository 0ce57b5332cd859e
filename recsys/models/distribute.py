"""Training on several machines with TensorFlow's own engine (``tf.distribute``).

``recsys train`` reads ``TF_CONFIG`` (the standard TensorFlow cluster description): with a
cluster of more than one worker it trains under ``MultiWorkerMirroredStrategy`` (synchronous
data parallelism, gradients all-reduced between workers); every worker runs the same command
against the same database, and only the chief (worker 0) saves the artifact. Without
``TF_CONFIG`` nothing changes. See docs/SCALING.md.

The strategy in use is held here (:func:`use`) so the networks pick it up wherever a model is
fitted (the holdout comparison and the final fit alike).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from recsys.errors import UsageError

_current: Any = None


def cluster() -> dict[str, Any] | None:
    """The parsed ``TF_CONFIG`` when it describes more than one worker, else None."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
        workers = config.get("cluster", {}).get("worker", [])
    except (ValueError, AttributeError) as error:
        raise UsageError(f"TF_CONFIG is not a TensorFlow cluster description ({error}); "
                         'expected {"cluster": {"worker": [...]}, "task": {...}}') from error
    return config if len(workers) > 1 else None


def multi_worker() -> Any:
    """A ``MultiWorkerMirroredStrategy`` for the ``TF_CONFIG`` cluster; create it before any
    other TensorFlow work, as TensorFlow requires."""
    from recsys.quiet import import_keras

    import_keras()
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief() -> bool:
    """True unless ``TF_CONFIG`` names this process a worker other than worker 0."""
    config = cluster()
    if config is None:
        return True
    task = config.get("task", {})
    return task.get("type") in ("chief", None) or (task.get("type") == "worker"
                                                   and int(task.get("index", 0)) == 0)


@contextmanager
def use(strategy: Any) -> Iterator[None]:
    """Fit every network inside this block under ``strategy``."""
    global _current
    before, _current = _current, strategy
    try:
        yield
    finally:
        _current = before


def current() -> Any:
    """The strategy in use (None: the default single-process training)."""
    return _current
