"""The ensemble's networks (recsys.models.networks): every member trains inside one compiled
network (``Trainer``), which must give each member exactly what a network of its own gives."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from recsys.models import ModelConfig

# Keras (and recsys.models.networks, which loads it) are imported inside the tests: at module
# level the fast lane would load TensorFlow while collecting, and its guard against tests
# that load it (tests/conftest.py) could no longer tell.

CONFIG = ModelConfig(max_epochs=3, patience=2, seed=5, ensemble=2)


@pytest.fixture(scope="module")
def problem() -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    from recsys.models import networks

    rng = np.random.default_rng(0)
    n_users, n_movies, n = 40, 30, 900
    u, m = rng.integers(1, n_users, n), rng.integers(1, n_movies, n)
    r = np.clip(np.round(3 + (u % 3) - (m % 2) + rng.normal(0, 0.5, n)), 1, 5)
    seen = np.zeros((n_users, n_movies), np.float32)
    seen[u, m] = 1.0
    inputs = networks.Inputs(n_users, n_movies, rng.normal(size=(n_users, 3)).astype(
        np.float32), rng.normal(size=(n_movies, 4)).astype(np.float32), float(r.mean()),
        seen / np.maximum(seen.sum(1, keepdims=True), 1.0))
    x = np.stack([u, m], axis=1).astype(np.int32)
    return inputs, x, r.astype(np.float32), rng.random(n) < 0.2


def one_network_each(config: ModelConfig, inputs: Any, x: np.ndarray,
                     r: np.ndarray, is_val: np.ndarray,
                     initial: list[Any] | None = None) -> list[list[np.ndarray]]:
    """The plain way: a new compiled network per member (what ``Trainer`` replaces)."""
    import keras

    from recsys.models import networks

    out = []
    for member in range(config.members):
        keras.utils.set_random_seed(config.seed + member)
        net = networks.build(config, inputs)
        if initial is not None:
            networks.start_from(net, initial[member])
        stop = keras.callbacks.EarlyStopping(monitor="val_rmse", patience=config.patience,
                                             restore_best_weights=True, mode="min")
        net.fit(x[~is_val], r[~is_val], validation_data=(x[is_val], r[is_val]),
                batch_size=config.batch_size, epochs=config.max_epochs, shuffle=True,
                verbose=0, callbacks=[stop])
        out.append([np.asarray(w) for w in net.get_weights()])
    return out


def weights(nets: list[Any]) -> list[list[np.ndarray]]:
    return [[np.asarray(w) for w in net.get_weights()] for net in nets]


@pytest.mark.training
def test_members_sharing_one_compiled_network_learn_what_their_own_would(
        problem: tuple[Any, np.ndarray, np.ndarray, np.ndarray]) -> None:
    from recsys.models import networks

    inputs, x, r, is_val = problem
    config = dataclasses.replace(CONFIG, batch_size=64)
    shared, history = networks.train(config, inputs, x, r, is_val, report=None)
    expected = one_network_each(config, inputs, x, r, is_val)
    assert len(shared) == config.members == 2
    for got, want in zip(weights(shared), expected, strict=True):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
    # the members differ (their seeds do), and each has its own history
    assert not np.array_equal(weights(shared)[0][0], weights(shared)[1][0])
    assert sorted(history["network"].unique()) == [0, 1]

    # a warm start from trained members: the same again
    warm, _ = networks.train(config, inputs, x, r, is_val, report=None, initial=shared)
    expected_warm = one_network_each(config, inputs, x, r, is_val, initial=shared)
    for got, want in zip(weights(warm), expected_warm, strict=True):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
