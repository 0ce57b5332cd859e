"""The hybrid networks' learned factors as NumPy arrays: what predicting, recommending and
the embeddings read once a model is trained (no Keras needed, so serving a model does not
import TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Factors:
    """The ensemble's learned factors as NumPy arrays, indexed by position: its mean
    prediction is ``global_mean + user_bias[u] + movie_bias[m] + user_vectors[u] .
    movie_vectors[m]`` (member vectors concatenated, scaled by 1/sqrt(n) on each side)."""

    user_vectors: np.ndarray
    user_bias: np.ndarray
    movie_vectors: np.ndarray
    movie_bias: np.ndarray

    def pairs(self, global_mean: float, u: np.ndarray, m: np.ndarray) -> np.ndarray:
        """The mean prediction of (user, movie) position pairs."""
        # each pair's sum on its own, in float64: the same value whatever else is asked
        return (global_mean + self.user_bias[u].astype(np.float64) + self.movie_bias[m]
                + np.einsum("ij,ij->i", self.user_vectors[u], self.movie_vectors[m],
                            dtype=np.float64))

    @cached_property
    def _movie_vectors64(self) -> np.ndarray:
        return self.movie_vectors.astype(np.float64)

    def matrix(self, global_mean: float, u: np.ndarray, movies: np.ndarray) -> np.ndarray:
        """The mean prediction of users (positions) x movies (positions), in float64: a
        float32 product's last digit depends on how many users are scored together, and
        batch prediction must store the same numbers whatever its batches or shards."""
        return (global_mean + self.user_bias[u][:, None] + self.movie_bias[movies][None]
                + self.user_vectors[u].astype(np.float64) @ self._movie_vectors64[movies].T)

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {"user_vectors": self.user_vectors, "user_bias": self.user_bias,
                "movie_vectors": self.movie_vectors, "movie_bias": self.movie_bias}
