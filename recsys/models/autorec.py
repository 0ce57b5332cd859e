"""Item-based AutoRec (Sedhain et al., 2015): one of the rating blend's models.

Each movie is its column of ratings over all users; a network with one sigmoid hidden layer
(500 units) learns to reconstruct the observed entries of that column (squared error on
observed ratings only, L2 on the weights), and the reconstruction fills in the rest. It errs
differently from the factor networks (a movie-side, non-linear model of who rated it how),
which is what a blend needs: alone it is a little weaker than the networks (fold 0 RMSE 0.899
against 0.900 for the three networks, 0.8982 recalibrated), blended with them it takes about
0.01 off the RMSE (bench/RESULTS.md).

Training runs a fixed number of epochs (the validation slice is kept for the blend's weights,
so it cannot also choose the epoch); the settings were chosen on folds 0-1 of the benchmark.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys.display.quiet import import_keras

import_keras()
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

HIDDEN = 500
L2 = 1e-3
#: Adam's rate decays along a cosine to 0 over the epochs: with a constant rate the last
#: epoch's weights swing (fold 0 test RMSE 0.905-0.961 for neighbouring settings); decayed,
#: 0.899 and stable.
LEARNING_RATE = 4e-3
BATCH = 128
EPOCHS = 40


def _observed_mse(y_true: Any, y_pred: Any) -> Any:
    """Mean squared error over the observed (non-zero) entries only."""
    mask = ops.cast(y_true > 0, "float32")
    return ops.sum(mask * (y_true - y_pred) ** 2) / ops.maximum(ops.sum(mask), 1.0)


#: A warm start (from the holdout comparison's AutoRec, :func:`fit_predict`'s ``initial``)
#: runs this many epochs, its cosine decay starting from this share of the rate.
WARM_EPOCHS = 10
WARM_RATE_SHARE = 0.5


def fit_predict(u: np.ndarray, m: np.ndarray, r: np.ndarray, n_users: int, n_movies: int,
                seed: int, epochs: int = EPOCHS,
                initial: list[np.ndarray] | None = None
                ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Train on the ratings (positions) and return every (user, movie) prediction as a users
    x movies matrix, and the trained weights.

    ``initial``: weights of an AutoRec trained on part of these ratings (same users and
    movies): training starts from them for :data:`WARM_EPOCHS` epochs at a lower rate."""
    columns = np.zeros((n_movies, n_users), np.float32)
    columns[m, u] = r
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((n_users,))
    hidden = layers.Dense(HIDDEN, activation="sigmoid",
                          kernel_regularizer=keras.regularizers.l2(L2))(inputs)
    outputs = layers.Dense(n_users, kernel_regularizer=keras.regularizers.l2(L2))(hidden)
    network = keras.Model(inputs, outputs)
    rate = LEARNING_RATE
    if initial is not None:
        network.set_weights(initial)
        epochs, rate = WARM_EPOCHS, LEARNING_RATE * WARM_RATE_SHARE
    steps = epochs * int(np.ceil(n_movies / BATCH))
    schedule = keras.optimizers.schedules.CosineDecay(rate, steps)
    network.compile(keras.optimizers.Adam(schedule), loss=_observed_mse,
                    steps_per_execution=int(np.ceil(n_movies / BATCH)))
    network.fit(columns, columns, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0)
    predicted = network.predict(columns, batch_size=4096, verbose=0)
    return np.asarray(predicted, np.float32).T, network.get_weights()
