"""Synthetic datasets of any size, MovieLens-shaped, streamed to disk.

``recsys data synthetic DIR --users U --movies M --ratings R --seed S`` writes the five CSVs
and a ``DATASET.json`` saying that everything in them is invented. The shape follows the
MovieLens sets:

- **movie popularity** is a power law (Zipf exponent ~0.9 over a shuffled catalogue): a few
  movies are rated by a large share of users, most by a handful;
- **user activity** is log-normal with at least 20 ratings per user (as in MovieLens), scaled
  so the total is exactly ``R`` (capped at half the catalogue per user);
- **taste clusters**: each user belongs to one of ``clusters`` groups with a latent taste
  vector and two or three favourite genres; users watch their favourite genres more often
  (what to watch) and rate movies close to their cluster's taste higher (how much they
  liked it): structure a model can learn, and clusters k-means can find;
- **dates** spread over 1996-2019: each user is active for a while from a random start.

Users are generated in batches and their ratings appended to ``scores.csv`` through Arrow,
so memory stays bounded (25 million ratings in well under 4 GB) whatever ``R`` is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.datasets.info import DatasetInfo, write_info
from recsys.datasets.tables import DATETIME_FORMAT, FILES, GENRES, RELEASE_DATE_FORMAT
from recsys.errors import UsageError
from recsys.rules import STARS, RatingScale

MIN_PER_USER = 20
LATENT = 16
START, END = pd.Timestamp("1996-01-01"), pd.Timestamp("2019-11-21")
BATCH_USERS = 8192
REAL_GENRES = GENRES[1:]  # "unknown" is left for movies without a genre


@dataclass(frozen=True)
class World:
    """The hidden truth the ratings are drawn from (kept only while generating)."""

    movie_ids: np.ndarray
    popularity: np.ndarray  # sampling weight of each movie
    movie_genres: np.ndarray  # movies x genres, bool
    movie_vectors: np.ndarray
    movie_bias: np.ndarray
    cluster_vectors: np.ndarray
    cluster_cdf: np.ndarray  # clusters x movies: cumulative watch probability


def _world(rng: np.random.Generator, n_movies: int, clusters: int) -> World:
    ranks = rng.permutation(n_movies) + 1
    popularity = 1.0 / ranks ** 0.9
    n_genres = len(REAL_GENRES)
    genre_weight = rng.dirichlet(np.full(n_genres, 0.8))
    how_many = rng.choice([1, 2, 3], size=n_movies, p=[0.45, 0.35, 0.2])
    genres = np.zeros((n_movies, n_genres), bool)
    for count in (1, 2, 3):
        rows = np.flatnonzero(how_many == count)
        for _ in range(count):
            genres[rows, rng.choice(n_genres, size=len(rows), p=genre_weight)] = True
    genre_vectors = rng.normal(0, 0.35, (n_genres, LATENT))
    movie_vectors = (genres @ genre_vectors) / np.sqrt(genres.sum(1, keepdims=True)) \
        + rng.normal(0, 0.25, (n_movies, LATENT))
    movie_bias = rng.normal(0, 0.35, n_movies) + 0.15 * np.log(popularity / popularity.mean())
    cluster_vectors = rng.normal(0, 0.45, (clusters, LATENT))
    cdf = np.empty((clusters, n_movies))
    for k in range(clusters):
        favourite = rng.choice(n_genres, size=rng.integers(2, 4), replace=False)
        weight = popularity * (1.0 + 2.5 * genres[:, favourite].any(axis=1))
        cdf[k] = np.cumsum(weight / weight.sum())
    cdf[:, -1] = 1.0
    return World(np.arange(1, n_movies + 1), popularity, genres, movie_vectors, movie_bias,
                 cluster_vectors, cdf)


def _activity(rng: np.random.Generator, n_users: int, n_ratings: int, cap: int) -> np.ndarray:
    """Ratings per user: log-normal, at least MIN_PER_USER, summing to ``n_ratings``."""
    extra = n_ratings - MIN_PER_USER * n_users
    raw = rng.lognormal(0.0, 1.2, n_users)
    counts = MIN_PER_USER + np.floor(raw / raw.sum() * extra).astype(np.int64)
    counts = np.minimum(counts, cap)
    short = n_ratings - counts.sum()
    while short > 0:  # hand out what rounding and the cap left, to users below the cap
        room = np.flatnonzero(counts < cap)
        if not len(room):
            break
        give = rng.choice(room, size=min(short, len(room)), replace=False)
        counts[give] += 1
        short -= len(give)
    return counts


def _distinct(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sorting beats hashing for these int64 keys)."""
    keys = np.sort(keys)
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys


def _pick_movies(rng: np.random.Generator, world: World, clusters: np.ndarray,
                 need: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct movies per user (positions), drawn from each user's cluster distribution:
    draw with replacement, drop repeats, draw again for what is missing, trim at random;
    the rare user still short after that gets the rest uniformly among unseen movies."""
    n_movies = len(world.movie_ids)
    # every cluster's CDF shifted by its index: one searchsorted draws for all clusters
    flat = (world.cluster_cdf + np.arange(len(world.cluster_cdf))[:, None]).ravel()
    keys = np.empty(0, np.int64)
    missing = need.copy()
    for _ in range(8):
        want = np.flatnonzero(missing > 0)
        if not len(want):
            break
        draws = np.repeat(want, np.ceil(missing[want] * 1.3).astype(np.int64) + 2)
        hit = np.searchsorted(flat, rng.random(len(draws)) + clusters[draws])
        movies = np.minimum(hit - clusters[draws] * n_movies, n_movies - 1)
        keys = _distinct(np.concatenate([keys, draws * n_movies + movies]))
        users = keys // n_movies
        order = np.lexsort((rng.random(len(keys)), users))  # random order within a user
        keys, users = keys[order], users[order]
        rank = np.arange(len(keys)) - np.searchsorted(users, users)
        keys = keys[rank < need[users]]
        missing = need - np.bincount(keys // n_movies, minlength=len(need))
    for user in np.flatnonzero(missing > 0):  # heavy users of a small catalogue
        have = keys[keys // n_movies == user] % n_movies
        rest = np.setdiff1d(np.arange(n_movies), have)
        extra = rng.choice(rest, size=min(missing[user], len(rest)), replace=False)
        keys = np.concatenate([keys, user * n_movies + extra])
    keys = np.sort(keys)
    return keys // n_movies, keys % n_movies


def _ratings(rng: np.random.Generator, world: World, scale: RatingScale, users: np.ndarray,
             movies: np.ndarray, user_vectors: np.ndarray, user_bias: np.ndarray
             ) -> np.ndarray:
    taste = np.einsum("ij,ij->i", user_vectors[users], world.movie_vectors[movies])
    raw = 3.6 + user_bias[users] + world.movie_bias[movies] + 1.2 * taste \
        + rng.normal(0, 0.5, len(users))
    steps = np.rint((raw - scale.low) / scale.step)
    return np.clip(scale.low + steps * scale.step, scale.low, scale.high)


def _times(rng: np.random.Generator, users: np.ndarray, start: np.ndarray,
           span: np.ndarray) -> np.ndarray:
    seconds = start[users] + rng.random(len(users)) * span[users]
    return (START.value // 10**9 + seconds.astype(np.int64)).astype("datetime64[s]")


def generate(out_dir: str | Path, n_users: int, n_movies: int, n_ratings: int, seed: int = 0,
             scale: RatingScale = STARS, clusters: int = 16,
             progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Write a synthetic dataset (the five CSVs and DATASET.json) into ``out_dir``.

    Args:
        n_users, n_movies, n_ratings: its size (at least 20 ratings per user, at most half
            the catalogue each).
        seed: the same seed gives the same files.
        scale: whole stars (default) or half stars.
        clusters: number of taste clusters.
        progress: called with (users written, users) after each batch.

    Returns:
        Paths of the five CSVs.
    """
    cap = max(MIN_PER_USER, n_movies // 2)
    if n_users < 1 or n_movies < 2 * MIN_PER_USER:
        raise UsageError(f"need at least 1 user and {2 * MIN_PER_USER} movies")
    if not MIN_PER_USER * n_users <= n_ratings <= cap * n_users:
        raise UsageError(f"{n_ratings} ratings for {n_users} users and {n_movies} movies: "
                         f"expected {MIN_PER_USER * n_users} to {cap * n_users} (each user "
                         f"rates {MIN_PER_USER} to {cap} movies)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    world = _world(rng, n_movies, clusters)
    counts = _activity(rng, n_users, n_ratings, cap)
    cluster = rng.integers(0, clusters, n_users)
    user_vectors = world.cluster_vectors[cluster] + rng.normal(0, 0.3, (n_users, LATENT))
    user_bias = rng.normal(0, 0.4, n_users)
    total = (END - START).total_seconds()
    start = rng.random(n_users) * total * 0.9
    span = np.minimum(rng.exponential(total / 20, n_users) + 86400, total - start)
    paths = _write_catalogue(out, rng, world, n_users, cluster, start)
    _write_scores(out / FILES["scores"], rng, world, scale, counts, cluster, user_vectors,
                  user_bias, start, span, progress)
    write_info(out, DatasetInfo(
        name=f"synthetic-{n_users}x{n_movies}-{n_ratings}-seed{seed}", rating_scale=scale,
        workers=False, source=f"`recsys data synthetic` ({n_users} users, {n_movies} movies, "
        f"{n_ratings} ratings, seed {seed}, {clusters} taste clusters)",
        synthesised=("everything: people, movies, ratings and dates",)))
    return paths + [out / FILES["scores"]]


def _write_scores(path: Path, rng: np.random.Generator, world: World, scale: RatingScale,
                  counts: np.ndarray, cluster: np.ndarray, user_vectors: np.ndarray,
                  user_bias: np.ndarray, start: np.ndarray, span: np.ndarray,
                  progress: Callable[[int, int], None] | None) -> None:
    from recsys.datasets.movielens import write_scores_csv

    n_users, written = len(counts), 0
    for first in range(0, n_users, BATCH_USERS):
        batch = np.arange(first, min(first + BATCH_USERS, n_users))
        local_u, movies = _pick_movies(rng, world, cluster[batch], counts[batch])
        users = batch[local_u]
        frame = pd.DataFrame({
            "": np.arange(written, written + len(users)), "user_id": users + 1,
            "movie_id": world.movie_ids[movies],
            "rating": _ratings(rng, world, scale, users, movies, user_vectors, user_bias),
            "Date": _times(rng, users, start, span)})
        if scale.whole:
            frame["rating"] = frame["rating"].astype(np.int64)
        write_scores_csv(frame, path, append=first > 0)
        written += len(users)
        if progress is not None:
            progress(int(batch[-1]) + 1, n_users)


def _write_catalogue(out: Path, rng: np.random.Generator, world: World, n_users: int,
                     cluster: np.ndarray, start: np.ndarray) -> list[Path]:
    """personas, usuarios, trabajadores (empty) and peliculas."""
    from recsys.datasets.files import atomic_write_text

    ids = np.arange(1, n_users + 1)
    occupations = np.array(["student", "engineer", "educator", "artist", "writer",
                            "programmer", "retired", "other"])
    persons = pd.DataFrame({
        "id": ids, "Full Name": [f"User {i}" for i in ids],
        "year of birth": rng.integers(1935, 2004, n_users),
        "Gender": rng.choice(["M", "F"], n_users),
        "Zip Code": rng.integers(10000, 99999, n_users).astype(str)})
    first = (START.value // 10**9 + start.astype(np.int64)).astype("datetime64[s]")
    users = pd.DataFrame({"id": ids, "Occupation": occupations[cluster % len(occupations)],
                          "Active Since": pd.to_datetime(first).strftime(DATETIME_FORMAT)})
    workers = pd.DataFrame(columns=["id", "Position", "Category", "Working Hours",
                                    "Start Date"])
    years = np.clip(2020 - rng.exponential(18, len(world.movie_ids)).astype(int), 1920, 2019)
    movies = pd.DataFrame({
        "id": world.movie_ids,
        "Name": [f"Synthetic movie {m} ({y})" for m, y in zip(world.movie_ids, years)],
        "Release Date": pd.to_datetime(pd.DataFrame(
            {"year": years, "month": 1, "day": 1})).dt.strftime(RELEASE_DATE_FORMAT),
        "IMDB URL": ""})
    movies["unknown"] = 0
    for g, genre in enumerate(REAL_GENRES):
        movies[genre] = world.movie_genres[:, g].astype(int)
    paths = []
    for table, frame in (("persons", persons), ("users", users), ("workers", workers),
                         ("movies", movies)):
        path = out / FILES[table]
        atomic_write_text(path, frame.to_csv(index=False))
        paths.append(path)
    return paths
