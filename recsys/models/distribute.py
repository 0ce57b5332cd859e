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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

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
    from recsys.display.quiet import import_keras

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


def fit(net: Any, strategy: Any, x: np.ndarray, r: np.ndarray, is_val: np.ndarray,
        batch_size: int, epochs: int, patience: int, seed: int,
        on_epoch: Callable[[int, dict[str, float]], None]) -> dict[str, list[float]]:
    """Train ``net`` (built and compiled under ``strategy.scope()``) with a custom loop, the
    form TensorFlow supports for ``MultiWorkerMirroredStrategy`` (Keras 3's ``fit`` does not
    run under it: keras-team/keras#20585).

    Every worker reads its share of a ``tf.data`` pipeline; the global batch stays
    ``batch_size`` (each replica takes its part of it), so N workers follow the same
    optimisation path as one, with the arithmetic shared; each step computes the mean
    squared error plus the network's regularisation on every replica, all-reduces the
    gradients and applies them;
    every epoch has the same number of steps on every worker so the collectives line up.
    Early stopping on the validation RMSE keeps the best weights, as in the one-process path.

    Returns:
        Per-epoch ``loss``, ``rmse``, ``val_loss``, ``val_rmse`` (the last two with a
        validation slice), as Keras' ``History.history``.
    """
    import tensorflow as tf

    replicas = strategy.num_replicas_in_sync
    global_batch = max(replicas, batch_size // replicas * replicas)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = \
        tf.data.experimental.AutoShardPolicy.DATA

    def pipeline(xs: np.ndarray, rs: np.ndarray, shuffle: bool) -> Any:
        data = tf.data.Dataset.from_tensor_slices((xs.astype(np.int32), rs.astype(np.float32)))
        if shuffle:
            data = data.shuffle(min(len(xs), 1_000_000), seed=seed, reshuffle_each_iteration=True)
        data = data.repeat().batch(global_batch, drop_remainder=True)
        return iter(strategy.experimental_distribute_dataset(data.with_options(options)))

    optimizer = net.optimizer

    @tf.function
    def train_step(iterator: Any) -> tuple[Any, Any]:
        def replica(xb: Any, rb: Any) -> tuple[Any, Any]:
            with tf.GradientTape() as tape:
                errors = tf.square(tf.reshape(net(xb, training=True), [-1]) - rb)
                loss = tf.reduce_sum(errors) / global_batch
                if net.losses:
                    loss += tf.add_n(net.losses) / replicas
            gradients = tape.gradient(loss, net.trainable_variables)
            optimizer.apply_gradients(zip(gradients, net.trainable_variables))
            return loss, tf.reduce_sum(errors)

        loss, squared = strategy.run(replica, args=next(iterator))
        return (strategy.reduce("SUM", loss, axis=None),
                strategy.reduce("SUM", squared, axis=None))

    @tf.function
    def validation_step(iterator: Any) -> Any:
        def replica(xb: Any, rb: Any) -> Any:
            return tf.reduce_sum(tf.square(tf.reshape(net(xb, training=False), [-1]) - rb))

        return strategy.reduce("SUM", strategy.run(replica, args=next(iterator)), axis=None)

    train_x, train_r = x[~is_val], r[~is_val]
    steps = max(1, len(train_x) // global_batch)
    training = pipeline(train_x, train_r, shuffle=True)
    validating = is_val.sum() >= global_batch
    if validating:
        validation = pipeline(x[is_val], r[is_val], shuffle=False)
        validation_steps = int(is_val.sum()) // global_batch
    history: dict[str, list[float]] = {}
    best, best_weights, waited = np.inf, None, 0
    for epoch in range(epochs):
        losses, squared = zip(*(train_step(training) for _ in range(steps)))
        logs = {"loss": float(np.mean(losses)),
                "rmse": float(np.sqrt(np.sum(squared) / (steps * global_batch)))}
        if validating:
            total = sum(float(validation_step(validation)) for _ in range(validation_steps))
            mse = total / (validation_steps * global_batch)
            logs.update(val_loss=mse, val_rmse=float(np.sqrt(mse)))
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        on_epoch(epoch, logs)
        if not validating:
            continue
        if logs["val_rmse"] < best:
            best, best_weights, waited = logs["val_rmse"], net.get_weights(), 0
        else:
            waited += 1
            if waited >= patience:
                break
    if best_weights is not None:
        net.set_weights(best_weights)
    return history
