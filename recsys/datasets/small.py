"""A small synthetic dataset with the course schema and a planted preference pattern, for
fast tests and runs without the course data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.datasets.tables import GENRES, Dataset, finalise


def synthetic(n_users: int = 60, n_movies: int = 120, ratings_per_user: int = 25,
              n_workers: int = 5, seed: int = 0) -> Dataset:
    """A small, valid dataset with the course schema and a planted preference pattern.

    Each user has a favourite genre among the first six "real" genres. Users watch movies of
    their favourite genre more often (implicit signal) and rate them higher (explicit signal),
    so a model that learns user-genre affinity beats a user+item bias baseline here.

    Args:
        n_users: number of users (all are persons).
        n_movies: number of movies.
        ratings_per_user: ratings per user (capped at ``n_movies``).
        n_workers: how many users are also workers.
        seed: random seed; the same seed gives the same dataset.

    Returns:
        A :class:`Dataset`.
    """
    rng = np.random.default_rng(seed)  # one generator, drawn in a fixed order below
    base = pd.Timestamp("1997-09-20")
    user_ids = np.arange(1, n_users + 1)
    persons, users, workers = _people(rng, user_ids, n_workers, base)
    core = list(GENRES[1:7])  # Action .. Comedy
    movies = _movies(rng, n_movies, core)
    scores = _ratings(rng, user_ids, movies, core, ratings_per_user, base)
    return finalise(persons, users, workers, movies, scores)


def _people(rng: np.random.Generator, user_ids: np.ndarray, n_workers: int,
            base: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    n_users = len(user_ids)
    persons = pd.DataFrame({
        "id": user_ids,
        "full_name": [f"Person {i}" for i in user_ids],
        "birth_year": rng.integers(1930, 2000, n_users),
        "gender": rng.choice(["M", "F"], n_users),
        "zip_code": [f"{rng.integers(10000, 99999)}" for _ in user_ids],
    })
    occupations = np.array(["student", "engineer", "educator", "artist", "other"])
    users = pd.DataFrame({
        "id": user_ids,
        "occupation": rng.choice(occupations, n_users),
        "active_since": base + pd.to_timedelta(rng.integers(0, 200, n_users), unit="D"),
    })
    worker_ids = np.sort(rng.choice(user_ids, size=min(n_workers, n_users), replace=False))
    users.loc[users["id"].isin(worker_ids), "occupation"] = "ITBA"
    workers = pd.DataFrame({
        "id": worker_ids,
        "position": rng.choice(["Analyst", "IT", "CEO"], len(worker_ids)),
        "category": rng.choice(["A", "B", "C"], len(worker_ids)),
        "working_hours": rng.choice(["9 - 18", "8-17", "20 - 04"], len(worker_ids)),
        "start_date": base + pd.to_timedelta(rng.integers(0, 200, len(worker_ids)), unit="D"),
    })
    return persons, users, workers


def _movies(rng: np.random.Generator, n_movies: int, core: list[str]) -> pd.DataFrame:
    movie_ids = np.arange(1, n_movies + 1)
    movie_genres = []
    for _ in movie_ids:
        k = int(rng.integers(1, 3))
        movie_genres.append(sorted(rng.choice(core, size=k, replace=False).tolist(),
                                   key=GENRES.index))
    years = rng.integers(1930, 1998, n_movies)
    return pd.DataFrame({
        "id": movie_ids,
        "title": [f"Movie {i} ({y})" for i, y in zip(movie_ids, years)],
        "release_date": pd.to_datetime([f"{y}-01-01" for y in years]),
        "imdb_url": [f"http://example.org/movie/{i}" for i in movie_ids],
        "genres": movie_genres,
    })


def _ratings(rng: np.random.Generator, user_ids: np.ndarray, movies: pd.DataFrame,
             core: list[str], ratings_per_user: int, base: pd.Timestamp) -> pd.DataFrame:
    """Users favour a core genre: they watch it more and rate it higher."""
    movie_ids = movies["id"].to_numpy()
    movie_genres = movies["genres"].tolist()
    quality = rng.normal(0.0, 0.35, len(movie_ids))
    favourite = rng.choice(core, len(user_ids))
    rows = []
    per_user = min(ratings_per_user, len(movie_ids))
    for u, fav in zip(user_ids, favourite):
        liked = np.array([fav in g for g in movie_genres])
        weights = np.where(liked, 4.0, 1.0)
        chosen = rng.choice(movie_ids, size=per_user, replace=False, p=weights / weights.sum())
        for m in chosen:
            mean = 3.0 + quality[m - 1] + (1.2 if liked[m - 1] else -0.6)
            rating = int(np.clip(np.rint(mean + rng.normal(0, 0.5)), 1, 5))
            rows.append((u, m, rating))
    ratings = np.array(rows)
    return pd.DataFrame({
        "id": np.arange(len(ratings)),
        "user_id": ratings[:, 0],
        "movie_id": ratings[:, 1],
        "rating": ratings[:, 2],
        "rated_at": base + pd.to_timedelta(rng.integers(0, 200 * 86400, len(ratings)), unit="s"),
    })
