"""Embeddings stage: movie and user vectors into the vector store, and similar movies.

Two kinds of vectors, each for movies and users:

- **content** vectors exist before any training: a movie's genre flags and scaled release
  year; a user's mean content vector over the movies they rated 4 or 5 (all their movies if
  none), so users and movies share one space;
- **learned** vectors come from the trained :class:`~recsys.model.Recommender` (its movie and
  user embeddings, side features included).

Indexes are rebuilt from scratch on every run, so re-indexing is idempotent, and atomically:
each is built aside (``VectorStore.stage``) and swapped in whole (``VectorStore.publish``), so
a run killed half-way leaves the previous indexes served. On several machines,
``recsys index --prepare`` stages them empty once, each machine writes its shard of the ids
(``--shard I/N``, :mod:`recsys.predictions.sharding`), and ``recsys index --publish`` swaps them in.

:func:`neighbour_quality` measures whether neighbours make sense (do the same people rate them? do
they share genres?) against a random baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recsys.algorithms.topk import first_kept
from recsys.datasets.tables import GENRES, Dataset
from recsys.datasets.titles import display_year
from recsys.errors import UsageError
from recsys.models.features import FeatureEncoder
from recsys.predictions.sharding import WHOLE, Shard
from recsys.rules import LIKED_RATING
from recsys.vectors.base import IndexNotFound, VectorStore, staged_name

if TYPE_CHECKING:
    from recsys.config import Settings
    from recsys.models import Recommender

INDEXES = {("movies", "content"): "movies_content", ("movies", "learned"): "movies_learned",
           ("users", "content"): "users_content", ("users", "learned"): "users_learned"}
KINDS = ("learned", "content")


class MovieNotIndexed(LookupError):
    """The movie is not in the vector index (unknown id, or indexing not run)."""


def index_name(entity: str, kind: str) -> str:
    """Index name for ``entity`` (movies/users) and ``kind`` (content/learned)."""
    if (entity, kind) not in INDEXES:
        raise UsageError(f"kind must be one of {KINDS}, got {kind!r}")
    return INDEXES[(entity, kind)]


def movie_content_vectors(data: Dataset) -> pd.DataFrame:
    """Genre flags + scaled release year (+ an unknown-year flag), one row per movie id."""
    encoder = FeatureEncoder.fit(data)
    ids, matrix = encoder.encode_movies(data)
    matrix = matrix.copy()
    matrix[:, -2] *= 0.5  # the year matters, but less than a shared genre
    return pd.DataFrame(matrix, index=pd.Index(ids, name="movie_id"))


def user_content_vectors(data: Dataset, movies: pd.DataFrame) -> pd.DataFrame:
    """Mean content vector of the movies each user liked (rated >= 4), else of all they rated;
    users with no ratings get the catalogue mean."""
    scores = data.scores
    liked = scores[scores["rating"] >= LIKED_RATING]
    fallback_users = set(scores["user_id"]) - set(liked["user_id"])
    chosen = pd.concat([liked, scores[scores["user_id"].isin(fallback_users)]])
    joined = movies.reindex(chosen["movie_id"].to_numpy())
    joined.index = pd.Index(chosen["user_id"].to_numpy(), name="user_id")
    means = joined.groupby(level=0).mean()
    users = np.sort(data.users["id"].to_numpy())
    out = means.reindex(users)
    out = out.fillna(pd.Series(movies.mean(axis=0).to_numpy(), index=movies.columns))
    out.index.name = "user_id"
    return out


def movie_metadata(data: Dataset) -> dict[int, dict[str, Any]]:
    """Title, year (the title's), genres and IMDb URL by movie id (stored beside each
    vector)."""
    out = {}
    for row in data.movies.itertuples(index=False):
        out[int(row.id)] = {"title": row.title, "year": display_year(row.title, row.release_date),
                            "genres": list(row.genres), "imdb_url": row.imdb_url}
    return out


def user_metadata(data: Dataset) -> dict[int, dict[str, Any]]:
    """Occupation, gender, birth year and number of ratings by user id."""
    people = data.users.merge(data.persons, on="id", how="left")
    counts = data.scores.groupby("user_id").size()
    return {int(r.id): {"occupation": r.occupation, "gender": r.gender,
                        "birth_year": int(r.birth_year), "ratings": int(counts.get(r.id, 0))}
            for r in people.itertuples(index=False)}


class IndexNotPrepared(UsageError):
    """A sharded run found no staged index to write into (``recsys index --prepare`` first),
    or ``--publish`` found none to publish."""


def write_index(store: VectorStore, name: str, vectors: pd.DataFrame,
                metadata: dict[int, dict[str, Any]], shard: Shard = WHOLE,
                prepare: bool = False) -> int:
    """Rebuild index ``name`` with one record per row of ``vectors``: built aside, then
    published in one step. With a ``shard``, write only its ids into the staged copy that
    ``prepare`` created (published later by :func:`publish_all`)."""
    staged = staged_name(name)
    if prepare or shard.whole:
        store.stage(name, vectors.shape[1], "cosine")
        if prepare:
            return 0
    elif not store.exists(staged):
        raise IndexNotPrepared(f"index {name!r} has no staged copy to write into: run "
                               f"`recsys index --prepare` once before the sharded runs "
                               f"(this is shard {shard})")
    ids = vectors.index.to_numpy()
    if not shard.whole:
        ids = ids[shard.mask(ids)]
    mine = vectors.loc[ids] if not shard.whole else vectors
    written = store.upsert(staged, ids, mine.to_numpy(np.float32),
                           [metadata.get(int(i), {}) for i in ids])
    if shard.whole:
        store.publish(name)
    return written


def first_genres(data: Dataset) -> pd.Series:
    """Each movie's first genre ("none" without one), by movie id: the label a projection of
    the movie vectors is coloured by."""
    return data.movies.set_index("id")["genres"].map(lambda g: g[0] if len(g) else "none")


def index_all(data: Dataset, store: VectorStore, model: Recommender | None = None,
              shard: Shard = WHOLE,
              prepare: bool = False) -> dict[str, int]:
    """Write the content indexes, and the learned ones when a trained model is given.

    Args:
        shard: write only this shard's movie and user ids into the staged copies.
        prepare: stage the indexes empty and write nothing (before sharded runs).

    Returns:
        Records written per index.
    """
    movies_meta, users_meta = movie_metadata(data), user_metadata(data)
    content = movie_content_vectors(data)
    parts = [("movies", "content", content, movies_meta),
             ("users", "content", user_content_vectors(data, content), users_meta)]
    if model is not None:
        parts += [("movies", "learned", model.movie_embeddings(), movies_meta),
                  ("users", "learned", model.user_embeddings(), users_meta)]
    return {INDEXES[(entity, kind)]: write_index(store, INDEXES[(entity, kind)], vectors, meta,
                                                 shard, prepare)
            for entity, kind, vectors, meta in parts}


def publish_all(store: VectorStore) -> dict[str, int]:
    """Serve every staged index (after sharded runs): records per published index.

    Raises:
        IndexNotPrepared: nothing is staged (no ``--prepare`` and shards since the last
            publish).
    """
    published = {}
    for name in INDEXES.values():
        if store.exists(staged_name(name)):
            store.publish(name)
            published[name] = store.count(name)
    if not published:
        raise IndexNotPrepared("no staged index to publish: run `recsys index --prepare`, "
                               "then `recsys index --shard I/N` on each machine, first")
    return published


def data_and_model(settings: Settings, required: bool) -> tuple[Dataset, Recommender | None]:
    """What ``settings`` name: the database's contents, and the latest trained model (None
    when there is none and it is optional)."""
    from recsys import db
    from recsys.errors import ModelNotFound
    from recsys.models import Recommender

    engine = db.make_engine(settings.database_url)
    try:
        data = db.read_dataset(engine)
    finally:
        engine.dispose()
    try:
        model = Recommender.load(settings.model_dir, data=data)
    except ModelNotFound:
        if required:
            raise
        model = None
    return data, model


def index_from_settings(settings: Settings, shard: Shard = WHOLE,
                        prepare: bool = False) -> tuple[dict[str, int], bool]:
    """:func:`index_all` against what ``settings`` name (what ``recsys index`` and each of
    its Ray tasks do): records written per index, and whether a trained model was there."""
    from recsys.vectors import open_store

    data, model = data_and_model(settings, required=False)
    counts = index_all(data, open_store(settings), model, shard=shard, prepare=prepare)
    return counts, model is not None


def publish_from_settings(settings: Settings) -> dict[str, int]:
    """:func:`publish_all` on the vector store ``settings`` name."""
    from recsys.vectors import open_store

    return publish_all(open_store(settings))


SIMILAR_COLUMNS = ["rank", "movie_id", "similarity", "title", "year", "genres"]


#: The most neighbours one search asks for while skipping movies that are gone (OpenSearch's
#: k-NN answers at most 10,000).
MAX_NEIGHBOURS_ASKED = 10_000


def similar_records(store: VectorStore, movie_id: int, k: int = 10, kind: str = "learned",
                    filter: dict[str, Any] | None = None,
                    exists: Callable[[list[int]], set[int]] | None = None
                    ) -> list[dict[str, Any]]:
    """The ``k`` movies closest to ``movie_id`` (never itself), as records (the API's path).

    ``exists`` says which movies the database still has: an index built before an
    ``ingest --replace`` can hold movies that are gone, and those are skipped (more
    neighbours are asked for until ``k`` remain or the index has no more).

    Raises:
        MovieNotIndexed: the movie is not in the index.
        IndexNotFound: the index does not exist (run ``recsys index``).
    """
    name = index_name("movies", kind)
    record = store.get(name, int(movie_id))
    if record is None:
        raise MovieNotIndexed(f"movie {movie_id} is not in the {name} index")
    def nearest(n: int) -> list[Any]:
        return store.knn(name, record.vector, k=n, exclude=[int(movie_id)], filter=filter)

    def still_there(hits: Sequence[Any]) -> list[Any]:
        present = exists([h.id for h in hits]) if exists is not None else None
        return [h for h in hits if present is None or h.id in present]

    hits = first_kept(nearest, still_there, k, MAX_NEIGHBOURS_ASKED)
    return [{"rank": i + 1, "movie_id": h.id, "similarity": round(h.score, 4),
             "title": h.metadata.get("title"), "year": h.metadata.get("year"),
             "genres": h.metadata.get("genres", [])} for i, h in enumerate(hits)]


def similar_to(store: VectorStore, movie_id: int, k: int = 10,
               kind: str = "learned") -> tuple[str, pd.DataFrame]:
    """The queried movie's title (from the index) and its ``k`` nearest movies."""
    record = store.get(index_name("movies", kind), int(movie_id))
    title = (record.metadata.get("title") if record is not None else None) or f"movie {movie_id}"
    return title, similar_movies(store, movie_id, k, kind)


def similar_movies(store: VectorStore, movie_id: int, k: int = 10, kind: str = "learned",
                   filter: dict[str, Any] | None = None) -> pd.DataFrame:
    """:func:`similar_records` as a DataFrame (notebooks, CLI)."""
    return pd.DataFrame(similar_records(store, movie_id, k, kind, filter),
                        columns=SIMILAR_COLUMNS)


def side_by_side(store: VectorStore, movie_id: int, k: int = 10) -> pd.DataFrame:
    """A movie's ``k`` nearest neighbours by learned and by content vectors, in two columns."""
    learned = similar_movies(store, movie_id, k, "learned")
    content = similar_movies(store, movie_id, k, "content")

    def shown(frame: pd.DataFrame) -> list[str]:
        return [f"{t} ({s:.2f})" for t, s in zip(frame["title"], frame["similarity"])]

    width = max(len(learned), len(content))
    pad = [""] * width
    return pd.DataFrame({"rank": range(1, width + 1),
                         "learned (similarity)": (shown(learned) + pad)[:width],
                         "content (similarity)": (shown(content) + pad)[:width]})


def content_vector(data: Dataset, movie_id: int) -> pd.Series:
    """One movie's content vector with a name for every component (genre flags, the scaled
    release year and the unknown-year flag)."""
    vectors = movie_content_vectors(data)
    names = [*GENRES, "release year (scaled, x0.5)", "year unknown"]
    return pd.Series(vectors.loc[int(movie_id)].to_numpy(), index=names,
                     name=f"movie {movie_id}").round(3)


def neighbour_quality(data: Dataset, store: VectorStore, kinds: tuple[str, ...] = KINDS,
                      k: int = 10, min_ratings: int = 20, seed: int = 42) -> pd.DataFrame:
    """How sensible neighbours are, per kind of vector and for random neighbours.

    For every movie with at least ``min_ratings`` ratings: the mean Jaccard overlap between its
    raters and each neighbour's raters (co-rating overlap), and the share of neighbours that
    share at least one genre with it (genre agreement).
    """
    raters = data.scores.groupby("movie_id")["user_id"].agg(frozenset)
    genres = data.movies.set_index("id")["genres"].map(frozenset)
    queries = raters[raters.map(len) >= min_ratings].index.to_numpy()
    rng = np.random.default_rng(seed)
    catalogue = data.movies["id"].to_numpy()

    def scores_for(neighbours: dict[int, list[int]]) -> tuple[float, float]:
        overlap, agree = [], []
        for movie, others in neighbours.items():
            mine = raters.get(movie, frozenset())
            for other in others:
                theirs = raters.get(other, frozenset())
                union = len(mine | theirs)
                overlap.append(len(mine & theirs) / union if union else 0.0)
                agree.append(float(bool(genres.get(movie, frozenset())
                                        & genres.get(other, frozenset()))))
        return float(np.mean(overlap)), float(np.mean(agree))

    rows = []
    for kind in kinds:
        try:
            found = {int(m): similar_movies(store, int(m), k, kind)["movie_id"].tolist()
                     for m in queries}
        except IndexNotFound:
            continue
        overlap, agree = scores_for(found)
        rows.append({"neighbours": kind, "co_rating_jaccard": overlap, "genre_agreement": agree})
    random_neighbours = {int(m): rng.choice(catalogue[catalogue != m], k, replace=False).tolist()
                         for m in queries}
    overlap, agree = scores_for(random_neighbours)
    rows.append({"neighbours": "random", "co_rating_jaccard": overlap, "genre_agreement": agree})
    return pd.DataFrame(rows)
