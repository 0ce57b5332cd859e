"""The Keras 3 networks behind ``predict``, and how they are trained, averaged and stored.

Importing this module imports Keras (TensorFlow); :mod:`recsys.models.recommender` imports it
only when a model is fitted or loaded, so commands that need no network start fast.

- :class:`HybridNetwork`: biased matrix factorisation + side features projected into the
  factor space + an SVD++-style implicit term (a user is also the normalised sum of factors
  of the movies they rated), per-example L2 on the parameters each rating uses;
- :class:`ReferenceNetwork`: the original course architecture (ID embeddings + genre flags
  -> three sigmoid Dense layers -> 4*sigmoid, so it can never predict a 5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.display.quiet import import_keras
from recsys.models.config import ModelConfig
from recsys.models.distribute import Strategy
from recsys.models.factors import Factors

import_keras()  # first: sets the backend and keeps TensorFlow's native lines off the console
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

#: Training steps run per call into TensorFlow (Keras' ``steps_per_execution``).
STEPS_PER_EXECUTION = 32


@keras.saving.register_keras_serializable(package="recsys")
class HybridNetwork(keras.Model):
    """Biased MF + side features + implicit feedback; input (user position, movie position)."""

    def __init__(self, n_users: int, n_movies: int, user_width: int, movie_width: int,
                 factors: int = 32, l2: float = 0.05, global_mean: float = 3.5,
                 implicit: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_users, self.n_movies = n_users, n_movies
        self.user_width, self.movie_width = user_width, movie_width
        self.factors, self.l2, self.global_mean, self.implicit = (factors, l2, global_mean,
                                                                  implicit)
        init = keras.initializers.RandomNormal(0.0, 0.01)
        self.user_factors = layers.Embedding(n_users, factors, embeddings_initializer=init)
        self.movie_factors = layers.Embedding(n_movies, factors, embeddings_initializer=init)
        self.user_bias = layers.Embedding(n_users, 1, embeddings_initializer="zeros")
        self.movie_bias = layers.Embedding(n_movies, 1, embeddings_initializer="zeros")
        self.user_side_proj = layers.Dense(factors, use_bias=False)
        self.movie_side_proj = layers.Dense(factors, use_bias=False)
        self.user_side_bias = layers.Dense(1, use_bias=False)
        self.movie_side_bias = layers.Dense(1, use_bias=False)

    def build(self, input_shape: Any = None) -> None:
        self.user_side = self.add_weight(shape=(self.n_users, self.user_width),
                                         initializer="zeros", trainable=False, name="user_side")
        self.movie_side = self.add_weight(shape=(self.n_movies, self.movie_width),
                                          initializer="zeros", trainable=False,
                                          name="movie_side")
        self.seen = self.add_weight(shape=(self.n_users, self.n_movies if self.implicit else 1),
                                    initializer="zeros", trainable=False, name="seen")
        self.implicit_factors = self.add_weight(
            shape=(self.n_movies, self.factors), trainable=self.implicit,
            initializer=keras.initializers.RandomNormal(0.0, 0.01), name="implicit_factors")
        for layer, width in ((self.user_factors, None), (self.movie_factors, None),
                             (self.user_bias, None), (self.movie_bias, None),
                             (self.user_side_proj, self.user_width),
                             (self.movie_side_proj, self.movie_width),
                             (self.user_side_bias, self.user_width),
                             (self.movie_side_bias, self.movie_width)):
            layer.build((None,) if width is None else (None, width))
        super().build(input_shape)

    def parts(self, users: Any, movies: Any) -> tuple[Any, Any, Any, Any]:
        """User vector, movie vector, user bias, movie bias (all tensors)."""
        su = ops.take(self.user_side, users, axis=0)
        sm = ops.take(self.movie_side, movies, axis=0)
        pu = self.user_factors(users) + self.user_side_proj(su)
        if self.implicit:
            pu = pu + ops.matmul(ops.take(self.seen, users, axis=0), self.implicit_factors)
        qi = self.movie_factors(movies) + self.movie_side_proj(sm)
        bu = ops.squeeze(self.user_bias(users) + self.user_side_bias(su), -1)
        bi = ops.squeeze(self.movie_bias(movies) + self.movie_side_bias(sm), -1)
        return pu, qi, bu, bi

    def call(self, inputs: Any, training: bool = False) -> Any:
        users = ops.cast(inputs[:, 0], "int32")
        movies = ops.cast(inputs[:, 1], "int32")
        pu, qi, bu, bi = self.parts(users, movies)
        if training:
            self.add_loss(self.l2 * ops.mean(ops.sum(pu ** 2, -1) + ops.sum(qi ** 2, -1)
                                             + bu ** 2 + bi ** 2))
        return self.global_mean + bu + bi + ops.sum(pu * qi, -1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n_users": self.n_users, "n_movies": self.n_movies,
                "user_width": self.user_width, "movie_width": self.movie_width,
                "factors": self.factors, "l2": self.l2, "global_mean": self.global_mean,
                "implicit": self.implicit}


@keras.saving.register_keras_serializable(package="recsys")
class ReferenceNetwork(keras.Model):
    """The original course model: user and movie embeddings + genre flags -> three sigmoid
    Dense layers -> 4*sigmoid (so it can never predict a 5)."""

    def __init__(self, n_users: int, n_movies: int, movie_width: int, factors: int = 32,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_users, self.n_movies, self.movie_width, self.factors = (n_users, n_movies,
                                                                       movie_width, factors)
        self.user_embedding = layers.Embedding(n_users, factors)
        self.movie_embedding = layers.Embedding(n_movies, factors)
        self.hidden1 = layers.Dense(64, activation="sigmoid")
        self.hidden2 = layers.Dense(32, activation="sigmoid")
        self.out = layers.Dense(1, activation="sigmoid")

    def build(self, input_shape: Any = None) -> None:
        self.movie_side = self.add_weight(shape=(self.n_movies, self.movie_width),
                                          initializer="zeros", trainable=False,
                                          name="movie_side")
        self.user_embedding.build((None,))
        self.movie_embedding.build((None,))
        self.hidden1.build((None, 2 * self.factors + 19))
        self.hidden2.build((None, 64))
        self.out.build((None, 32))
        super().build(input_shape)

    def call(self, inputs: Any, training: bool = False) -> Any:
        users = ops.cast(inputs[:, 0], "int32")
        movies = ops.cast(inputs[:, 1], "int32")
        genres = ops.take(self.movie_side, movies, axis=0)[:, :19]
        x = ops.concatenate([self.user_embedding(users), self.movie_embedding(movies), genres],
                            axis=-1)
        return 4.0 * ops.squeeze(self.out(self.hidden2(self.hidden1(x))), -1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n_users": self.n_users, "n_movies": self.n_movies,
                "movie_width": self.movie_width, "factors": self.factors}


@dataclass(frozen=True)
class Inputs:
    """What a network needs besides its hyper-parameters (arrays indexed by position)."""

    n_users: int
    n_movies: int
    user_side: np.ndarray
    movie_side: np.ndarray
    global_mean: float
    seen: np.ndarray | None  # normalised implicit matrix (hybrid with implicit term only)


def build(config: ModelConfig, inputs: Inputs, compiled: bool = True) -> Any:
    """A network with the side features (and implicit matrix) loaded, compiled for training
    unless ``compiled`` is False (a member that keeps trained weights, see :func:`train`)."""
    if config.kind == "hybrid":
        net = HybridNetwork(inputs.n_users, inputs.n_movies, inputs.user_side.shape[1],
                            inputs.movie_side.shape[1], config.factors, config.l2,
                            inputs.global_mean, config.implicit)
        net.build((None, 2))
        net.user_side.assign(inputs.user_side)
        net.movie_side.assign(inputs.movie_side)
        if inputs.seen is not None:
            net.seen.assign(inputs.seen)
    else:
        net = ReferenceNetwork(inputs.n_users, inputs.n_movies, inputs.movie_side.shape[1],
                               config.factors)
        net.build((None, 2))
        net.movie_side.assign(inputs.movie_side)
    if not compiled:
        return net
    # several steps per call into TensorFlow: the same batches and updates, less overhead
    # per step (bench/RESULTS.md, "Fast by default")
    net.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mse",
                metrics=[keras.metrics.RootMeanSquaredError(name="rmse")],
                steps_per_execution=STEPS_PER_EXECUTION)
    return net


def start_from(net: Any, other: Any) -> None:
    """Copy ``other``'s trained weights into ``net`` (same architecture and sizes); the
    inputs that are data, not learnt (side features, who rated what), stay ``net``'s."""
    for mine, theirs in zip(net.trainable_weights, other.trainable_weights, strict=True):
        if tuple(mine.shape) != tuple(theirs.shape):
            raise ValueError(f"cannot start {mine.name} {tuple(mine.shape)} from "
                             f"{tuple(theirs.shape)}")
        mine.assign(theirs)


def train(config: ModelConfig, inputs: Inputs, x: np.ndarray, r: np.ndarray,
          is_val: np.ndarray, report: Callable[[str], None] | None,
          initial: Sequence[Any] | None = None,
          strategy: Strategy | None = None) -> tuple[list[Any], pd.DataFrame]:
    """Train ``config.members`` networks with consecutive seeds, early stopping on the
    validation slice (best weights kept); returns them and their per-epoch history.

    ``initial``: trained networks to start from, one per member (a warm start);
    ``strategy``: a ``tf.distribute`` strategy to train under (:mod:`recsys.models.distribute`;
    None: one process).

    In one process every member trains inside the same compiled network, its weights and
    optimiser reset in between (:class:`Trainer`): TensorFlow traces the training step once
    per fit instead of once per member (about 1.8 s each), with the same numbers."""
    from recsys.models import distribute
    networks, histories = [], []
    members = config.members
    trainer = Trainer(config, inputs) if strategy is None else None
    for member in range(members):
        keras.utils.set_random_seed(config.seed + member)
        if strategy is not None:
            with strategy.scope():
                net = build(config, inputs)
        else:
            net = build(config, inputs, compiled=False)
        if initial is not None:
            start_from(net, initial[member])
        label = f"network {member + 1}/{members}, " if members > 1 else ""

        def on_epoch(epoch: int, logs: dict[str, float] | None, label: str = label) -> None:
            if report is not None:
                report(f"{label}epoch {epoch + 1}: " + ", ".join(
                    f"{k} {v:.4f}" for k, v in (logs or {}).items()))

        if trainer is None:
            logs = distribute.fit(net, strategy, x, r, is_val, batch_size=config.batch_size,
                                  epochs=config.max_epochs, patience=config.patience,
                                  seed=config.seed + member, on_epoch=on_epoch)
        else:
            logs = trainer.fit(net, x, r, is_val, on_epoch)
        history = pd.DataFrame(logs).rename_axis("epoch").reset_index()
        history["epoch"] += 1
        histories.append(history.assign(network=member))
        networks.append(net)
    return networks, pd.concat(histories, ignore_index=True)


class Trainer:
    """One compiled network that trains every member of an ensemble in turn.

    Keras traces a compiled network's training and validation steps on its first ``fit``;
    a new network per member would trace them again. Here each member's starting weights
    are copied in, the optimiser's state is set back to what it was before any step, and the
    trained (best) weights are copied back out to the member, which never needs compiling.
    """

    def __init__(self, config: ModelConfig, inputs: Inputs) -> None:
        self.config = config
        self.net = build(config, inputs)
        self.net.optimizer.build(self.net.trainable_variables)
        self.fresh = [ops.convert_to_numpy(v) for v in self.net.optimizer.variables]

    def fit(self, member: Any, x: np.ndarray, r: np.ndarray, is_val: np.ndarray,
            on_epoch: Callable[[int, dict[str, float] | None], None]) -> dict[str, Any]:
        """Train ``member`` (a built network of the same shape) from its current weights;
        returns Keras' per-epoch history."""
        config = self.config
        start_from(self.net, member)
        for variable, value in zip(self.net.optimizer.variables, self.fresh, strict=True):
            variable.assign(value)
        callbacks: list[Any] = [keras.callbacks.LambdaCallback(on_epoch_end=on_epoch)]
        if is_val.any():
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_rmse", patience=config.patience, restore_best_weights=True,
                mode="min"))
        validation = (x[is_val], r[is_val]) if is_val.any() else None
        logs: dict[str, Any] = self.net.fit(
            x[~is_val], r[~is_val], validation_data=validation, batch_size=config.batch_size,
            epochs=config.max_epochs, shuffle=True, verbose=0, callbacks=callbacks).history
        start_from(member, self.net)
        return logs


def export_factors(networks: list[Any], n_users: int, n_movies: int) -> Factors:
    """The hybrid ensemble's factors as NumPy arrays (one dot product serves the mean)."""
    users = np.arange(n_users, dtype=np.int32)
    movies = np.arange(n_movies, dtype=np.int32)
    parts: dict[str, list[np.ndarray]] = {"pu": [], "bu": [], "qi": [], "bi": []}
    for net in networks:
        pu, _, bu, _ = net.parts(users, np.zeros_like(users))
        _, qi, _, bi = net.parts(np.zeros_like(movies), movies)
        for key, value in (("pu", pu), ("bu", bu), ("qi", qi), ("bi", bi)):
            parts[key].append(np.asarray(value, np.float32))
    scale = np.float32(1.0 / np.sqrt(len(networks)))
    return Factors(user_vectors=np.concatenate(parts["pu"], axis=1) * scale,
                   user_bias=np.mean(parts["bu"], axis=0),
                   movie_vectors=np.concatenate(parts["qi"], axis=1) * scale,
                   movie_bias=np.mean(parts["bi"], axis=0))


def predict(network: Any, u: np.ndarray, m: np.ndarray) -> np.ndarray:
    """A network's raw output for position arrays (the reference model's path)."""
    x = np.stack([u, m], axis=1).astype(np.int32)
    return np.asarray(network.predict(x, batch_size=65536, verbose=0), np.float64)


def embedding_table(network: Any, entity: str) -> np.ndarray:
    """The reference network's ``entity`` ("user" or "movie") embedding table."""
    return np.asarray(getattr(network, f"{entity}_embedding").embeddings)


def save(networks: list[Any], folder: Path) -> None:
    """Each network as ``network_<i>.keras`` in ``folder``."""
    for member, net in enumerate(networks):
        net.save(folder / f"network_{member}.keras")


def load(folder: Path) -> list[Any]:
    """The networks saved in ``folder``, in member order."""
    paths = sorted(folder.glob("network_*.keras"), key=lambda p: int(p.stem.split("_")[1]))
    return [keras.models.load_model(p) for p in paths]


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and the backend (before building anything random)."""
    keras.utils.set_random_seed(seed)


def version() -> str:
    """The Keras version (recorded with each artifact)."""
    return str(keras.__version__)
