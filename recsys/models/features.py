"""Side features shared by training and serving.

:class:`FeatureEncoder` is fitted on the training data and saved with the model, so the API
encodes a user or movie exactly as training did. Vocabularies reserve index 0 for anything not
seen in training (out-of-vocabulary), which therefore never fails.

User features: age at the reference year (standardised), gender (M/F/OOV), occupation, zip
region (first character of the zip code: US regions are digits, Canadian codes letters) and
worker position ("none" for users who are not workers).
Movie features: the 19 genre flags, release year (standardised) and a "year unknown" flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.datasets.tables import GENRES, Dataset

OOV = "<oov>"


def _vocabulary(values: pd.Series) -> list[str]:
    """OOV first, then the distinct values sorted (deterministic across runs)."""
    return [OOV, *sorted({str(v) for v in values.dropna()})]


def _one_hot(values: pd.Series, vocabulary: list[str]) -> np.ndarray:
    index = {v: i for i, v in enumerate(vocabulary)}
    positions = values.astype(str).map(index).fillna(0).astype(int).to_numpy()
    out = np.zeros((len(values), len(vocabulary)), dtype=np.float32)
    out[np.arange(len(values)), positions] = 1.0
    return out


@dataclass
class FeatureEncoder:
    """Encodes users and movies into fixed-width float vectors.

    Attributes:
        reference_year: year ages are computed at (the last rating year in training).
        age_mean / age_std, year_mean / year_std: standardisation constants.
        vocabularies: name -> list of categories (index 0 is OOV).
    """

    reference_year: int = 1998
    age_mean: float = 0.0
    age_std: float = 1.0
    year_mean: float = 0.0
    year_std: float = 1.0
    vocabularies: dict[str, list[str]] = field(default_factory=dict)

    # -- fitting -------------------------------------------------------------------------------
    @classmethod
    def fit(cls, data: Dataset, scores: pd.DataFrame | None = None) -> FeatureEncoder:
        """Learn vocabularies and scaling from ``data`` (users/movies) and training ``scores``."""
        scores = data.scores if scores is None else scores
        if "rated_at" in scores and len(scores):
            reference_year = int(pd.to_datetime(scores["rated_at"]).dt.year.max())
        else:
            reference_year = 1998
        users = cls._user_frame(data)
        ages = reference_year - users["birth_year"]
        years = data.movies["release_date"].dt.year.dropna()
        return cls(
            reference_year=reference_year,
            age_mean=float(ages.mean()), age_std=float(ages.std() or 1.0),
            year_mean=float(years.mean()) if len(years) else 1990.0,
            year_std=float(years.std() or 1.0) if len(years) > 1 else 1.0,
            vocabularies={
                "gender": [OOV, "F", "M"],
                "occupation": _vocabulary(users["occupation"]),
                "zip_region": _vocabulary(users["zip_region"]),
                "position": _vocabulary(users["position"]),
            },
        )

    @staticmethod
    def _user_frame(data: Dataset) -> pd.DataFrame:
        users = data.users[["id", "occupation"]].merge(
            data.persons[["id", "birth_year", "gender", "zip_code"]], on="id", how="left")
        users = users.merge(data.workers[["id", "position"]], on="id", how="left")
        users["position"] = users["position"].fillna("none")
        users["zip_region"] = users["zip_code"].fillna("").astype(str).str[:1].str.upper()
        return users

    # -- encoding ------------------------------------------------------------------------------
    def encode_users(self, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """(user ids, feature matrix) for every user in ``data``."""
        users = self._user_frame(data).sort_values("id")
        age = ((self.reference_year - users["birth_year"].fillna(self.reference_year
                                                                 - self.age_mean))
               - self.age_mean) / self.age_std
        parts = [age.to_numpy(dtype=np.float32)[:, None]]
        for name in ("gender", "occupation", "zip_region", "position"):
            parts.append(_one_hot(users[name], self.vocabularies[name]))
        return users["id"].to_numpy(), np.concatenate(parts, axis=1)

    def encode_movies(self, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """(movie ids, feature matrix) for every movie in ``data``."""
        movies = data.movies.sort_values("id")
        genres = np.array([[g in gs for g in GENRES] for gs in movies["genres"]],
                          dtype=np.float32).reshape(len(movies), len(GENRES))
        year = movies["release_date"].dt.year
        unknown = year.isna().to_numpy(dtype=np.float32)[:, None]
        scaled = ((year.fillna(self.year_mean) - self.year_mean) / self.year_std)
        return movies["id"].to_numpy(), np.concatenate(
            [genres, scaled.to_numpy(dtype=np.float32)[:, None], unknown], axis=1)

    @property
    def user_width(self) -> int:
        """Length of a user feature vector."""
        return 1 + sum(len(self.vocabularies[n]) for n in
                       ("gender", "occupation", "zip_region", "position"))

    @property
    def movie_width(self) -> int:
        """Length of a movie feature vector."""
        return len(GENRES) + 2

    # -- persistence ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {"reference_year": self.reference_year, "age_mean": self.age_mean,
                "age_std": self.age_std, "year_mean": self.year_mean, "year_std": self.year_std,
                "vocabularies": self.vocabularies}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FeatureEncoder:
        """Inverse of :meth:`to_dict`."""
        return cls(**state)
