"""Synthetic data at any size (``recsys data synthetic``): exact sizes, valid files, the same
files from the same seed, MovieLens-like shape, and structure a model can learn."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from recsys import datasets, rules
from recsys.datasets.generate import MIN_PER_USER, generate
from recsys.errors import UsageError


def _digest(folder: Path) -> str:
    return hashlib.sha256(b"".join((folder / name).read_bytes()
                                   for name in sorted(datasets.FILES.values()))).hexdigest()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    generate(folder, 400, 600, 40_000, seed=5, clusters=4)
    return folder


def test_exact_sizes_valid_files_and_description(generated: Path) -> None:
    result = datasets.load(generated)
    assert result.report.empty, result.report.head()
    assert result.dataset.counts() == {"persons": 400, "users": 400, "workers": 0,
                                       "movies": 600, "scores": 40_000}
    info = result.dataset.info
    assert info.rating_scale == rules.STARS and info.synthesised
    assert "everything" in datasets.provenance(generated)


def test_same_seed_same_files_other_seed_other_files(generated: Path, tmp_path: Path) -> None:
    generate(tmp_path / "again", 400, 600, 40_000, seed=5, clusters=4)
    generate(tmp_path / "other", 400, 600, 40_000, seed=6, clusters=4)
    assert _digest(tmp_path / "again") == _digest(generated)
    assert _digest(tmp_path / "other") != _digest(generated)


def test_movielens_like_shape(generated: Path) -> None:
    scores = datasets.load(generated).dataset.scores
    per_user = scores.groupby("user_id").size()
    per_movie = scores.groupby("movie_id").size().sort_values(ascending=False)
    assert per_user.min() >= MIN_PER_USER
    assert per_user.max() > 4 * per_user.median()  # a long tail of heavy raters
    # power-law popularity: the top 10% of movies hold far more than 10% of ratings
    top = per_movie.iloc[:60].sum() / per_movie.sum()
    assert 0.3 < top < 0.8
    counts = scores["rating"].value_counts(normalize=True)
    assert set(counts.index) == {1, 2, 3, 4, 5} and counts[1] < counts[4]
    assert 3.0 < scores["rating"].mean() < 4.0
    years = scores["rated_at"].dt.year
    assert years.min() >= 1996 and years.max() <= 2019 and years.nunique() > 10


def test_half_stars_and_impossible_sizes(tmp_path: Path) -> None:
    generate(tmp_path / "half", 50, 100, 2_000, seed=1, scale=rules.HALF_STARS)
    scores = datasets.load(tmp_path / "half").dataset.scores
    assert rules.HALF_STARS.valid(scores["rating"]).all()
    assert (scores["rating"] % 1 == 0.5).any()
    with pytest.raises(UsageError, match="each user rates 20 to 50 movies"):
        generate(tmp_path / "no", 10, 100, 10 * 51)
    with pytest.raises(UsageError, match="each user rates 20 to 50 movies"):
        generate(tmp_path / "no", 10, 100, 10 * 19)


def test_taste_clusters_are_learnable(generated: Path) -> None:
    """Ratings carry user-movie structure beyond biases: a rank-4 fit of the residuals
    explains held-out ratings better than user and movie means alone."""
    scores = datasets.load(generated).dataset.scores
    rng = np.random.default_rng(0)
    test = rng.random(len(scores)) < 0.1
    train = scores[~test]
    mean = train["rating"].mean()
    bu = train.groupby("user_id")["rating"].mean() - mean
    bi = (train["rating"] - mean - train["user_id"].map(bu)).groupby(train["movie_id"]).mean()

    def biases(frame):  # type: ignore[no-untyped-def]
        return mean + frame["user_id"].map(bu).fillna(0) + frame["movie_id"].map(bi).fillna(0)

    residual = train["rating"] - biases(train)
    users, movies = train["user_id"].to_numpy() - 1, train["movie_id"].to_numpy() - 1
    matrix = np.zeros((400, 600))
    np.add.at(matrix, (users, movies), residual.to_numpy())
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    low_rank = (u[:, :4] * s[:4]) @ vt[:4]
    held = scores[test]
    base = biases(held).to_numpy()
    boost = low_rank[held["user_id"] - 1, held["movie_id"] - 1]
    scale = np.dot(boost, held["rating"] - base) / np.dot(boost, boost)
    rmse_bias = np.sqrt(np.mean((held["rating"] - base) ** 2))
    rmse_taste = np.sqrt(np.mean((held["rating"] - base - scale * boost) ** 2))
    assert rmse_taste < 0.97 * rmse_bias, (rmse_taste, rmse_bias)
