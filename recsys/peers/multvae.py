"""Mult-VAE (Liang, Krishnan, Hoffman and Jebara, "Variational Autoencoders for
Collaborative Filtering", WWW 2018), in Keras.

A user is their row of who-watched-what ``x`` (every rated movie is a 1). The encoder reads
the L2-normalised row through dropout and a tanh layer and gives the mean and log-variance
of a Gaussian latent code; the decoder maps a code through a tanh layer to a softmax over the
catalogue. Training maximises the multinomial log-likelihood of the row under that softmax
minus ``beta`` x the KL divergence of the code from N(0, I), ``beta`` annealed linearly from 0
up to :data:`BETA_CAP` (the paper's "partial regularisation"). A user's scores are the
decoder's logits at the code's mean.

The number of epochs is chosen on the validation slice (:mod:`recsys.peers.tuning`): the
network is measured every :data:`CHECK_EVERY` epochs on the slice and the best count is the
one the final fit trains for, as the paper picks its epoch by validation NDCG.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys.datasets.tables import Dataset
from recsys.display.quiet import import_keras
from recsys.evaluation.baselines import _Indexed
from recsys.peers.tuning import Tuned

#: The paper's architecture for MovieLens-20M: catalogue -> 600 -> 200 -> 600 -> catalogue.
HIDDEN = 600
LATENT = 200
DROPOUT = 0.5
BETA_CAP = 0.2
#: Steps over which beta climbs from 0 to its cap.
ANNEAL_STEPS = 2_000
LEARNING_RATE = 1e-3
BATCH = 128
#: Epoch counts tried on the validation slice.
GRID = tuple({"epochs": e} for e in (20, 50, 100))


class MultVAE(_Indexed):
    """Mult-VAE with a fixed number of epochs (see :func:`tuned` for the searched one)."""

    name = "multvae"

    def __init__(self, epochs: int = 50, hidden: int = HIDDEN, latent: int = LATENT,
                 dropout: float = DROPOUT, seed: int = 42) -> None:
        self.epochs, self.hidden, self.latent = epochs, hidden, latent
        self.dropout, self.seed = dropout, seed

    def fit(self, train: pd.DataFrame, data: Dataset) -> MultVAE:
        self._index(train, data)
        self.X = self.interactions(train)
        self._build(self.X.shape[1])
        _train(self, self.X, self.epochs, self.seed)
        return self

    def _build(self, n_items: int) -> None:
        keras = import_keras()
        layers = keras.layers
        keras.utils.set_random_seed(self.seed)
        rows = keras.Input((n_items,))
        normalised = layers.UnitNormalization()(rows)
        dropped = layers.Dropout(self.dropout)(normalised)
        hidden = layers.Dense(self.hidden, activation="tanh")(dropped)
        mean = layers.Dense(self.latent)(hidden)
        log_var = layers.Dense(self.latent)(hidden)
        self.encoder = keras.Model(rows, [mean, log_var])
        code = keras.Input((self.latent,))
        logits = layers.Dense(n_items)(layers.Dense(self.hidden, activation="tanh")(code))
        self.decoder = keras.Model(code, logits)

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray, at: Any = None) -> None:
        return None

    def score_items(self, user_ids: np.ndarray) -> np.ndarray:
        u = self._pos(self.user_pos, user_ids)
        rows = self.X[np.maximum(u, 0)].toarray().astype(np.float32)
        mean, _ = self.encoder(rows, training=False)
        out = np.asarray(self.decoder(mean, training=False), dtype=np.float64)
        out[u < 0] = 0.0
        return out


def _train(vae: MultVAE, X: Any, epochs: int, seed: int) -> None:
    """Adam on the negative ELBO, beta annealed (a loop of gradient steps: the loss needs
    the encoder's two outputs and the decoder at once)."""
    import tensorflow as tf

    keras = import_keras()
    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    weights = vae.encoder.trainable_variables + vae.decoder.trainable_variables

    @tf.function(reduce_retracing=True)
    def step(rows: Any, beta: Any) -> Any:
        with tf.GradientTape() as tape:
            mean, log_var = vae.encoder(rows, training=True)
            code = mean + tf.random.normal(tf.shape(mean)) * tf.exp(0.5 * log_var)
            log_p = tf.nn.log_softmax(vae.decoder(code, training=True))
            likelihood = tf.reduce_mean(tf.reduce_sum(log_p * rows, axis=1))
            kl = tf.reduce_mean(tf.reduce_sum(
                0.5 * (tf.exp(log_var) + mean ** 2 - 1.0 - log_var), axis=1))
            loss = beta * kl - likelihood
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss

    rng = np.random.default_rng(seed)
    active = np.flatnonzero(np.diff(X.indptr) > 0)
    done = 0
    for _ in range(epochs):
        order = rng.permutation(active)
        for start in range(0, len(order), BATCH):
            rows = X[order[start:start + BATCH]].toarray().astype(np.float32)
            beta = BETA_CAP * min(1.0, done / ANNEAL_STEPS)
            step(tf.constant(rows), tf.constant(beta, tf.float32))
            done += 1


def tuned() -> Tuned:
    """Mult-VAE with its number of epochs chosen on the validation slice."""
    return Tuned("multvae", MultVAE, GRID)
