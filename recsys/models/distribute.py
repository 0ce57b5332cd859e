"""Training on several machines with TensorFlow's own engine (``tf.distribute``).

``recsys train`` reads ``TF_CONFIG`` (the standard TensorFlow cluster description): with a
cluster of more than one worker it trains under ``MultiWorkerMirroredStrategy`` (synchronous
data parallelism, gradients all-reduced between workers); every worker runs the same command
against the same database, and only the chief (worker 0) saves the artifact. Without
``TF_CONFIG`` nothing changes. See docs/SCALING.md.

The strategy is passed explicitly, from the command line (or the Ray worker) down to the
networks: ``training.train(..., strategy=...)`` hands it to every model it fits (the holdout
comparison's and the final one).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np

from recsys.errors import UsageError

#: A ``tf.distribute.Strategy`` (TensorFlow is imported on first use, so it is not named here).
Strategy: TypeAlias = Any
#: Per-epoch training metrics, as Keras' ``History.history``.
History: TypeAlias = dict[str, list[float]]


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


def multi_worker() -> Strategy:
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


def fit(net: Any, strategy: Strategy, x: np.ndarray, r: np.ndarray, is_val: np.ndarray,
        batch_size: int, epochs: int, patience: int, seed: int,
        on_epoch: Callable[[int, dict[str, float]], None]) -> History:
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
    replicas = strategy.num_replicas_in_sync
    global_batch = max(replicas, batch_size // replicas * replicas)
    train_step, validation_step = _steps(net, strategy, global_batch)
    train_x, train_r = x[~is_val], r[~is_val]
    steps = max(1, len(train_x) // global_batch)
    training = _distributed(strategy, train_x, train_r, global_batch, shuffle=True, seed=seed)
    validating = is_val.sum() >= global_batch
    if validating:
        validation = _distributed(strategy, x[is_val], r[is_val], global_batch,
                                  shuffle=False, seed=seed)
        validation_steps = int(is_val.sum()) // global_batch
    history: History = {}
    stop = _EarlyStop(patience)
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
        if validating and stop.after(logs["val_rmse"], net):
            break
    if stop.best_weights is not None:
        net.set_weights(stop.best_weights)
    return history


class _EarlyStop:
    """Early stopping on a validation score (lower is better), keeping the best weights."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best = np.inf
        self.best_weights: list[np.ndarray] | None = None
        self.waited = 0

    def after(self, score: float, net: Any) -> bool:
        """Note an epoch's ``score``; True when training should stop."""
        if score < self.best:
            self.best, self.best_weights, self.waited = score, net.get_weights(), 0
            return False
        self.waited += 1
        return self.waited >= self.patience


def _distributed(strategy: Strategy, xs: np.ndarray, rs: np.ndarray, global_batch: int,
                 shuffle: bool, seed: int) -> Any:
    """An endless iterator of global batches, each worker reading its share (sharded by
    data)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = \
        tf.data.experimental.AutoShardPolicy.DATA
    data = tf.data.Dataset.from_tensor_slices((xs.astype(np.int32), rs.astype(np.float32)))
    if shuffle:
        data = data.shuffle(min(len(xs), 1_000_000), seed=seed, reshuffle_each_iteration=True)
    data = data.repeat().batch(global_batch, drop_remainder=True)
    return iter(strategy.experimental_distribute_dataset(data.with_options(options)))


def _steps(net: Any, strategy: Strategy, global_batch: int) -> tuple[Any, Any]:
    """The compiled training step (loss and summed squared error, gradients all-reduced and
    applied) and validation step (summed squared error), each over one global batch."""
    import tensorflow as tf

    replicas = strategy.num_replicas_in_sync
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

    return train_step, validation_step
