"""The recommendation model: a Keras rating network plus an implicit-feedback ranker.

One trained :class:`Recommender` provides both

- ``predict(user_ids, movie_ids)``: ratings clipped to [1, 5], from the **hybrid network**
  (Keras 3): user and movie ID embeddings with biases, side features projected into the same
  space (:mod:`recsys.features`), and an SVD++-style implicit term (a user is also the
  normalised sum of factors of the movies they rated), trained on squared error with
  per-example L2 regularisation and early stopping on a seeded validation slice;
- ``recommend(user_id, k)``: the top-k unseen movies by a **ranking score**: a rating-weighted
  EASE item-item model (closed form, trained on who-watched-what, with each rating's weight
  growing with the rating) blended with the network's predicted rating (both standardised
  per user, weight ``rank_blend``). Ranking all movies by
  predicted rating alone ranks poorly (it ignores what people choose to watch); EASE alone
  ignores how much they liked it. Users with no ratings get a cold-start list (predicted
  rating from their side features, blended with popularity).

The original course architecture is kept as ``kind="reference"`` (ID embeddings + genres ->
three sigmoid Dense layers, output 4*sigmoid) so the notebooks can show the improvement.

The model's internal indices never leave this module: every argument and result is keyed by
database ids. After training, serving uses NumPy copies of the learned factors, so
``recommend`` for one user takes well under a millisecond.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.datasets import Dataset
from recsys.errors import ModelError, ModelNotFound
from recsys.evaluation import ease_weights, top_columns
from recsys.features import FeatureEncoder
from recsys.progress import Progress, reporter

FORMAT_VERSION = 1




@dataclass
class ModelConfig:
    """Hyper-parameters (defaults chosen by 5-fold measurements, see bench/RESULTS.md).

    Attributes:
        kind: ``hybrid`` (the model) or ``reference`` (the original course architecture).
        factors: embedding size.
        l2: per-example L2 penalty on the embeddings and biases used by each rating.
        learning_rate, batch_size: Adam settings.
        max_epochs, patience: early stopping on the validation slice (best weights restored).
        validation_fraction: share of training ratings held out for early stopping.
        implicit: include the SVD++-style implicit term.
        ranker_l2: EASE regularisation.
        ranker_rating_weight: weight of a rating r in the EASE matrix is 1 + w * (r - 3).
        rank_blend: weight of the user's standardised predicted ratings added to their
            standardised EASE scores in the ranking score (0: EASE alone).
        ensemble: number of hybrid networks trained with consecutive seeds and averaged
            (the reference model always trains one).
        seed: seed for initialisation, shuffling and the validation slice.
    """

    kind: str = "hybrid"
    factors: int = 32
    l2: float = 0.05
    learning_rate: float = 2e-3
    batch_size: int = 512
    max_epochs: int = 30
    patience: int = 2
    validation_fraction: float = 0.05
    implicit: bool = True
    ranker_l2: float = 500.0
    ranker_rating_weight: float = 0.3
    rank_blend: float = 0.3
    ensemble: int = 3
    seed: int = 42

    def __post_init__(self) -> None:
        if self.kind not in ("hybrid", "reference"):
            raise ValueError(f"kind must be 'hybrid' or 'reference', got {self.kind!r}")


def _keras() -> Any:
    """Import Keras lazily (TensorFlow is slow to import and not needed by every command),
    without TensorFlow's native start-up lines."""
    from recsys.quiet import import_keras

    return import_keras()


def _networks() -> dict[str, type]:
    """The Keras model classes, defined on first use and registered for .keras loading."""
    if _NETWORKS:
        return _NETWORKS
    keras = _keras()
    from keras import layers, ops

    @keras.saving.register_keras_serializable(package="recsys")
    class HybridNetwork(keras.Model):
        """Biased MF + side features + implicit feedback; input (user index, movie index)."""

        def __init__(self, n_users: int, n_movies: int, user_width: int, movie_width: int,
                     factors: int = 32, l2: float = 0.05, global_mean: float = 3.5,
                     implicit: bool = True, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.n_users, self.n_movies = n_users, n_movies
            self.user_width, self.movie_width = user_width, movie_width
            self.factors, self.l2, self.global_mean, self.implicit = (factors, l2,
                                                                      global_mean, implicit)
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
                                             initializer="zeros", trainable=False,
                                             name="user_side")
            self.movie_side = self.add_weight(shape=(self.n_movies, self.movie_width),
                                              initializer="zeros", trainable=False,
                                              name="movie_side")
            self.seen = self.add_weight(shape=(self.n_users, self.n_movies if self.implicit
                                               else 1), initializer="zeros", trainable=False,
                                        name="seen")
            self.implicit_factors = self.add_weight(
                shape=(self.n_movies, self.factors),
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
            x = ops.concatenate([self.user_embedding(users), self.movie_embedding(movies),
                                 genres], axis=-1)
            return 4.0 * ops.squeeze(self.out(self.hidden2(self.hidden1(x))), -1)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "n_users": self.n_users, "n_movies": self.n_movies,
                    "movie_width": self.movie_width, "factors": self.factors}

    _NETWORKS.update(hybrid=HybridNetwork, reference=ReferenceNetwork)
    return _NETWORKS


_NETWORKS: dict[str, type] = {}


def fingerprint(scores: pd.DataFrame) -> str:
    """SHA-256 of the (user, movie, rating) triples, order-independent."""
    triples = scores[["user_id", "movie_id", "rating"]].to_numpy(dtype=np.int64)
    triples = triples[np.lexsort(triples.T[::-1])]
    return hashlib.sha256(np.ascontiguousarray(triples).tobytes()).hexdigest()


def catalogue_fingerprint(movie_ids: np.ndarray) -> str:
    """SHA-256 of the sorted movie ids (what a model's outputs are indexed by)."""
    ids = np.sort(np.asarray(movie_ids, dtype=np.int64))
    return hashlib.sha256(ids.tobytes()).hexdigest()


def _standardise(matrix: np.ndarray) -> np.ndarray:
    mean = matrix.mean(axis=1, keepdims=True)
    std = matrix.std(axis=1, keepdims=True)
    return (matrix - mean) / np.where(std > 0, std, 1.0)


class Recommender:
    """Fit on a scores table, then predict ratings and recommend movies by database id.

    Example::

        rec = Recommender().fit(train_scores, dataset)
        rec.predict([1, 1], [50, 181])
        rec.recommend(1, k=10)
        rec.save("var/model")
    """

    name = "recommender"

    def __init__(self, config: ModelConfig | None = None, progress: Progress = False) -> None:
        self.config = config or ModelConfig()
        self.progress = progress
        self.network: Any = None
        self.history: pd.DataFrame = pd.DataFrame()
        self.metrics: dict[str, Any] = {}
        self.version = ""
        self.meta: dict[str, Any] = {}

    # -- indices (private) ---------------------------------------------------------------------
    def _set_ids(self, user_ids: np.ndarray, movie_ids: np.ndarray) -> None:
        self._user_ids = np.asarray(user_ids, dtype=np.int64)
        self._movie_ids = np.asarray(movie_ids, dtype=np.int64)
        # index 0 is the out-of-vocabulary row; known ids start at 1
        self._user_index = pd.Series(np.arange(1, len(user_ids) + 1), index=self._user_ids)
        self._movie_index = pd.Series(np.arange(1, len(movie_ids) + 1), index=self._movie_ids)

    def _users(self, ids: Any) -> np.ndarray:
        return self._user_index.reindex(np.atleast_1d(np.asarray(ids, dtype=np.int64))
                                        ).fillna(0).to_numpy(dtype=np.int64)

    def _movies(self, ids: Any) -> np.ndarray:
        return self._movie_index.reindex(np.atleast_1d(np.asarray(ids, dtype=np.int64))
                                         ).fillna(0).to_numpy(dtype=np.int64)

    @property
    def movie_ids(self) -> np.ndarray:
        """Every movie the model can score, in the column order of :meth:`score_items`."""
        return self._movie_ids

    @property
    def user_ids(self) -> np.ndarray:
        """Every user the model knows (others are treated as cold)."""
        return self._user_ids

    # -- training ------------------------------------------------------------------------------
    def fit(self, scores: pd.DataFrame, data: Dataset,
            progress: Progress | None = None) -> "Recommender":
        """Train on ``scores`` (scores.csv columns), with ``data`` as side information.

        Args:
            scores: the ratings to learn from (any split of the data).
            data: persons, users, workers and movies (its own scores are not used).
            progress: one line per epoch: printed (True) or passed to a callable (e.g. the
                pipeline's heartbeat); default: the ``progress`` given to the constructor.

        Returns:
            ``self``.
        """
        keras = _keras()
        cfg = self.config
        start = time.perf_counter()
        keras.utils.set_random_seed(cfg.seed)
        unknown_movies = set(scores["movie_id"]) - set(data.movies["id"])
        if unknown_movies:
            raise ModelError(f"scores reference {len(unknown_movies)} movie(s) not in the "
                             f"movies table, e.g. {sorted(unknown_movies)[:5]}")
        user_ids = np.union1d(data.users["id"].to_numpy(), scores["user_id"].unique())
        self._set_ids(user_ids, np.sort(data.movies["id"].to_numpy()))
        self.encoder = FeatureEncoder.fit(data, scores)
        encoded_users, user_side = self.encoder.encode_users(data)
        encoded_movies, movie_side = self.encoder.encode_movies(data)
        n_users, n_movies = len(self._user_ids) + 1, len(self._movie_ids) + 1
        self._user_side = np.zeros((n_users, self.encoder.user_width), np.float32)
        self._user_side[self._users(encoded_users)] = user_side
        self._movie_side = np.zeros((n_movies, self.encoder.movie_width), np.float32)
        self._movie_side[self._movies(encoded_movies)] = movie_side

        u = self._users(scores["user_id"])
        m = self._movies(scores["movie_id"])
        r = scores["rating"].to_numpy(dtype=np.float32)
        self.global_mean = float(r.mean())
        self._seen = {"users": u.astype(np.int32), "movies": m.astype(np.int32),
                      "ratings": r.astype(np.int8)}

        rng = np.random.default_rng(cfg.seed)
        is_val = rng.random(len(r)) < cfg.validation_fraction
        x = np.stack([u, m], axis=1).astype(np.int32)
        seen = None
        if cfg.kind == "hybrid" and cfg.implicit:
            # implicit feedback uses every training rating, validation slice included
            # (which movies a user rated is known; only the rating values are held out)
            seen = np.zeros((n_users, n_movies), np.float32)
            seen[u, m] = 1.0
            seen /= np.sqrt(np.maximum(seen.sum(axis=1, keepdims=True), 1.0))
        members = cfg.ensemble if cfg.kind == "hybrid" else 1
        report = reporter(self.progress if progress is None else progress)
        self.networks, histories = [], []
        for member in range(members):
            keras.utils.set_random_seed(cfg.seed + member)
            net = self._build_network(n_users, n_movies, seen)
            callbacks = []
            if report is not None:
                label = f"network {member + 1}/{members}, " if members > 1 else ""
                callbacks.append(keras.callbacks.LambdaCallback(
                    on_epoch_end=lambda epoch, logs, label=label: report(
                        f"{label}epoch {epoch + 1}: " + ", ".join(
                            f"{k} {v:.4f}" for k, v in (logs or {}).items()))))
            validation = None
            if is_val.any():
                validation = (x[is_val], r[is_val])
                callbacks.append(keras.callbacks.EarlyStopping(
                    monitor="val_rmse", patience=cfg.patience, restore_best_weights=True,
                    mode="min"))
            fitted = net.fit(x[~is_val], r[~is_val], validation_data=validation,
                             batch_size=cfg.batch_size, epochs=cfg.max_epochs, shuffle=True,
                             verbose=0, callbacks=callbacks)
            history = pd.DataFrame(fitted.history).rename_axis("epoch").reset_index()
            history["epoch"] += 1
            histories.append(history.assign(network=member))
            self.networks.append(net)
        self.network = self.networks[0]
        self.history = pd.concat(histories, ignore_index=True)
        self._export_factors()
        self._fit_ranker(u, m, r, n_users, n_movies)
        self.fingerprint = fingerprint(scores)
        self.fit_seconds = time.perf_counter() - start
        self.version = ""
        return self

    def _build_network(self, n_users: int, n_movies: int, seen: np.ndarray | None) -> Any:
        """A compiled Keras network with the side features (and implicit matrix) loaded."""
        keras = _keras()
        cfg = self.config
        networks = _networks()
        if cfg.kind == "hybrid":
            net = networks["hybrid"](n_users, n_movies, self.encoder.user_width,
                                     self.encoder.movie_width, cfg.factors, cfg.l2,
                                     self.global_mean, cfg.implicit)
            net.build((None, 2))
            net.user_side.assign(self._user_side)
            net.movie_side.assign(self._movie_side)
            if seen is not None:
                net.seen.assign(seen)
        else:
            net = networks["reference"](n_users, n_movies, self.encoder.movie_width,
                                        cfg.factors)
            net.build((None, 2))
            net.movie_side.assign(self._movie_side)
        net.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="mse",
                    metrics=[keras.metrics.RootMeanSquaredError(name="rmse")])
        return net

    def _export_factors(self) -> None:
        """Copy the learned factors to NumPy for fast serving (hybrid only).

        The ensemble's mean prediction is one dot product: member vectors are concatenated
        and scaled by 1/sqrt(n) on each side, biases averaged.
        """
        if self.config.kind != "hybrid":
            self._factors = None
            return
        users = np.arange(len(self._user_ids) + 1, dtype=np.int32)
        movies = np.arange(len(self._movie_ids) + 1, dtype=np.int32)
        parts: dict[str, list[np.ndarray]] = {"pu": [], "bu": [], "qi": [], "bi": []}
        for net in self.networks:
            pu, _, bu, _ = net.parts(users, np.zeros_like(users))
            _, qi, _, bi = net.parts(np.zeros_like(movies), movies)
            for key, value in (("pu", pu), ("bu", bu), ("qi", qi), ("bi", bi)):
                parts[key].append(np.asarray(value, np.float32))
        scale = np.float32(1.0 / np.sqrt(len(self.networks)))
        self._factors = {"user_vectors": np.concatenate(parts["pu"], axis=1) * scale,
                         "user_bias": np.mean(parts["bu"], axis=0),
                         "movie_vectors": np.concatenate(parts["qi"], axis=1) * scale,
                         "movie_bias": np.mean(parts["bi"], axis=0)}

    def _fit_ranker(self, u: np.ndarray, m: np.ndarray, r: np.ndarray, n_users: int,
                    n_movies: int) -> None:
        cfg = self.config
        weights = np.zeros((n_users, n_movies), np.float32)
        weights[u, m] = 1.0 + cfg.ranker_rating_weight * (r - 3.0)
        weights[:, 0] = 0.0
        self._ranker_X = weights
        self._ranker_B = ease_weights(weights, cfg.ranker_l2)
        counts = np.bincount(m, minlength=n_movies).astype(np.float64)
        self._popularity = np.log1p(counts)

    # -- inference -----------------------------------------------------------------------------
    def _ratings_for(self, u: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Unclipped predicted ratings for index arrays."""
        if self._factors is not None:
            f = self._factors
            return (self.global_mean + f["user_bias"][u] + f["movie_bias"][m]
                    + np.einsum("ij,ij->i", f["user_vectors"][u], f["movie_vectors"][m]))
        x = np.stack([u, m], axis=1).astype(np.int32)
        return np.asarray(self.network.predict(x, batch_size=65536, verbose=0), np.float64)

    def predict(self, user_ids: Any, movie_ids: Any) -> np.ndarray:
        """Predicted ratings in [1, 5] for each (user, movie) pair (unknown ids are cold)."""
        self._require_fitted()
        u, m = self._users(user_ids), self._movies(movie_ids)
        if len(u) != len(m):
            raise ValueError(f"{len(u)} user ids but {len(m)} movie ids")
        return np.clip(self._ratings_for(u, m), 1.0, 5.0)

    def _rating_matrix(self, u: np.ndarray) -> np.ndarray:
        """Predicted ratings of users (indices) for every catalogue movie."""
        movies = np.arange(1, len(self._movie_ids) + 1)
        if self._factors is not None:
            f = self._factors
            return (self.global_mean + f["user_bias"][u][:, None] + f["movie_bias"][movies][None]
                    + f["user_vectors"][u] @ f["movie_vectors"][movies].T)
        uu = np.repeat(u, len(movies))
        mm = np.tile(movies, len(u))
        return self._ratings_for(uu, mm).reshape(len(u), len(movies))

    def score_items(self, user_ids: Any) -> np.ndarray:
        """Ranking scores (higher is better) of every catalogue movie for each user.

        Columns follow :attr:`movie_ids`. The reference model ranks by predicted rating, as the
        original did. Otherwise, users with training ratings: rating-weighted EASE
        (+ ``rank_blend`` x standardised predicted rating). Users without: cold-start score,
        standardised predicted rating + standardised log popularity.
        """
        self._require_fitted()
        u = self._users(user_ids)
        ratings = self._rating_matrix(u)
        if self.config.kind == "reference":
            return ratings  # the original ranked every movie by predicted rating
        history = self._ranker_X[u]
        scores = (history @ self._ranker_B)[:, 1:].astype(np.float64)
        if self.config.rank_blend:
            # both parts standardised per user, so the weight means the same for everyone
            scores = _standardise(scores) + self.config.rank_blend * _standardise(ratings)
        cold = ~history.any(axis=1)
        if cold.any():
            popularity = _standardise(self._popularity[None, 1:])
            scores[cold] = _standardise(ratings[cold]) + popularity
        return scores

    def is_cold(self, user_id: int) -> bool:
        """True when the model has no training ratings for this user."""
        return not self._ranker_X[self._users([user_id])[0]].any()

    def seen_movies(self, user_id: int) -> np.ndarray:
        """Movie ids the user rated in the training data."""
        u = self._users([user_id])[0]
        if u == 0:
            return np.array([], dtype=np.int64)
        return self._movie_ids[np.flatnonzero(self._ranker_X[u, 1:])]

    def recommend(self, user_id: int, k: int = 10, exclude_seen: bool = True,
                  exclude: Any = ()) -> pd.DataFrame:
        """Top-``k`` movies for one user.

        Args:
            user_id: database id (an unknown or rating-less user gets the cold-start list).
            k: how many movies.
            exclude_seen: leave out movies the user rated in the training data.
            exclude: further movie ids to leave out (e.g. ratings added since training).

        Returns:
            Columns rank, movie_id, score (ranking score), predicted_rating (1..5).
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        scores = self.score_items([user_id])[0]
        blocked = list(exclude)
        if exclude_seen:
            blocked.extend(self.seen_movies(user_id).tolist())
        if blocked:
            cols = self._movies(blocked) - 1
            scores[cols[cols >= 0]] = -np.inf
        kk = min(k, int(np.isfinite(scores).sum()))
        if kk == 0:
            return pd.DataFrame(columns=["rank", "movie_id", "score", "predicted_rating"])
        top = top_columns(scores, kk)
        movie_ids = self._movie_ids[top]
        return pd.DataFrame({"rank": np.arange(1, kk + 1), "movie_id": movie_ids,
                             "score": scores[top],
                             "predicted_rating": self.predict(np.full(kk, user_id), movie_ids)})

    # -- embeddings ----------------------------------------------------------------------------
    def _embeddings(self, entity: str) -> pd.DataFrame:
        """Learned vectors of ``entity`` ("movie" or "user"), one row per database id (the
        exported hybrid factors, or the reference network's embedding table)."""
        self._require_fitted()
        if self._factors is not None:
            vectors = self._factors[f"{entity}_vectors"][1:]
        else:
            vectors = np.asarray(getattr(self.network, f"{entity}_embedding").embeddings)[1:]
        ids = self._movie_ids if entity == "movie" else self._user_ids
        frame = pd.DataFrame(vectors, columns=[f"e{i}" for i in range(vectors.shape[1])])
        frame.index = pd.Index(ids, name=f"{entity}_id")
        return frame

    def movie_embeddings(self) -> pd.DataFrame:
        """One row per movie id: the learned movie vector (ID factors + side projection)."""
        return self._embeddings("movie")

    def user_embeddings(self) -> pd.DataFrame:
        """One row per user id: the learned user vector (ID + side + implicit parts)."""
        return self._embeddings("user")

    # -- persistence ---------------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.network is None and not hasattr(self, "_ranker_B"):
            raise ModelError("the model is not trained: call fit() or Recommender.load()")

    def save(self, root: str | os.PathLike[str], metrics: dict[str, Any] | None = None) -> Path:
        """Write a versioned artifact under ``root`` atomically and mark it as the latest.

        Layout: ``root/<version>/`` holding ``network_<i>.keras`` (the Keras networks),
        ``arrays.npz`` (id maps, side features, factors, ranker), ``meta.json`` (config,
        vocabularies, metrics, data fingerprint, training history); ``root/LATEST`` names the
        newest version. The folder is written under a temporary name and renamed into place,
        so a reader never sees a half-written model.

        Returns:
            The version folder.
        """
        self._require_fitted()
        keras = _keras()
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        created = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        self.version = f"{created}-{self.fingerprint[:8]}"
        if metrics is not None:
            self.metrics = dict(metrics)
        final = root / self.version
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
        try:
            for member, net in enumerate(self.networks):
                net.save(tmp / f"network_{member}.keras")
            arrays = {"user_ids": self._user_ids, "movie_ids": self._movie_ids,
                      "user_side": self._user_side, "movie_side": self._movie_side,
                      "seen_users": self._seen["users"], "seen_movies": self._seen["movies"],
                      "seen_ratings": self._seen["ratings"]}
            if self._factors is not None:
                arrays.update(self._factors)
            np.savez_compressed(tmp / "arrays.npz", **arrays)
            meta = {
                "format": FORMAT_VERSION, "version": self.version,
                "created_utc": created, "keras_version": keras.__version__,
                "config": dataclasses.asdict(self.config), "global_mean": self.global_mean,
                "encoder": self.encoder.to_dict(), "fingerprint": self.fingerprint,
                "catalogue_fingerprint": catalogue_fingerprint(self._movie_ids),
                "n_users": int(len(self._user_ids)), "n_movies": int(len(self._movie_ids)),
                "n_ratings": int(len(self._seen["ratings"])),
                "fit_seconds": getattr(self, "fit_seconds", None),
                "metrics": self.metrics, "history": self.history.to_dict(orient="list"),
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=float))
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        latest = root / ".LATEST.tmp"
        latest.write_text(self.version + "\n")
        os.replace(latest, root / "LATEST")
        self.meta = meta
        return final

    @classmethod
    def load(cls, path: str | os.PathLike[str], data: Dataset | None = None,
             movie_ids: Any = None) -> "Recommender":
        """Load a saved model: a version folder, or a root holding ``LATEST``.

        Args:
            path: where :meth:`save` wrote.
            data: if given, its movies must be the ones the model was trained on.
            movie_ids: alternatively, the movie ids the caller will ask about.

        Raises:
            ModelError: nothing there, a corrupt artifact, or data that does not match.
        """
        path = Path(path)
        try:
            rec = cls._read(path)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - any damage to an artifact is a ModelError
            raise ModelError(f"cannot read the model at {path}: {type(exc).__name__}: {exc} "
                             "(retrain with `recsys train`)") from exc
        expected = None
        if data is not None:
            expected = data.movies["id"].to_numpy()
        elif movie_ids is not None:
            expected = np.asarray(movie_ids)
        if expected is not None:
            rec.check_catalogue(expected)
        return rec

    @classmethod
    def _read(cls, path: Path) -> "Recommender":
        """The artifact at ``path`` (its failures are turned into ModelError by load)."""
        keras = _keras()
        _networks()
        if (path / "LATEST").is_file():
            path = path / (path / "LATEST").read_text().strip()
        if not (path / "meta.json").is_file():
            raise ModelNotFound(f"no trained model at {path}: run `recsys train` first")
        meta = json.loads((path / "meta.json").read_text())
        if not isinstance(meta, dict):
            raise ModelError(f"{path / 'meta.json'} does not hold a model description")
        if meta.get("format") != FORMAT_VERSION:
            raise ModelError(f"{path} has model format {meta.get('format')}, this code reads "
                             f"{FORMAT_VERSION}: retrain with `recsys train`")
        rec = cls(ModelConfig(**meta["config"]))
        with np.load(path / "arrays.npz") as npz:
            arrays = {name: npz[name] for name in npz.files}
        rec.networks = [keras.models.load_model(p) for p in
                        sorted(path.glob("network_*.keras"),
                               key=lambda p: int(p.stem.split("_")[1]))]
        if not rec.networks:
            raise ModelError(f"the model at {path} has no network_*.keras file: retrain with "
                             "`recsys train`")
        rec.network = rec.networks[0]
        rec._set_ids(arrays["user_ids"], arrays["movie_ids"])
        rec._user_side, rec._movie_side = arrays["user_side"], arrays["movie_side"]
        rec.encoder = FeatureEncoder.from_dict(meta["encoder"])
        rec.global_mean = float(meta["global_mean"])
        rec._factors = ({k: arrays[k] for k in ("user_vectors", "user_bias", "movie_vectors",
                                                 "movie_bias")}
                        if "user_vectors" in arrays else None)
        rec._seen = {"users": arrays["seen_users"], "movies": arrays["seen_movies"],
                     "ratings": arrays["seen_ratings"]}
        rec._fit_ranker(rec._seen["users"], rec._seen["movies"],
                        rec._seen["ratings"].astype(np.float32), len(rec._user_ids) + 1,
                        len(rec._movie_ids) + 1)
        rec.fingerprint = meta["fingerprint"]
        rec.fit_seconds = meta.get("fit_seconds")
        rec.metrics = meta.get("metrics", {})
        rec.history = pd.DataFrame(meta.get("history", {}))
        rec.version = meta["version"]
        rec.meta = meta
        return rec

    def check_catalogue(self, movie_ids: Any) -> None:
        """Raise :class:`ModelError` unless ``movie_ids`` are the movies the model knows."""
        given = catalogue_fingerprint(np.asarray(movie_ids))
        if given != catalogue_fingerprint(self._movie_ids):
            theirs = set(np.asarray(movie_ids).tolist())
            mine = set(self._movie_ids.tolist())
            raise ModelError(
                f"model {self.version or '(unsaved)'} was trained on {len(mine)} movies but the "
                f"data has {len(theirs)} ({len(theirs - mine)} new, {len(mine - theirs)} "
                "missing): retrain with `recsys train`")
