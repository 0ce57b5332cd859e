"""Every query the read model runs: the whole snapshot (:func:`load_snapshot`), one user's
rows (:func:`user_snapshot`), some movies (:func:`movie_infos`), the ratings stored after an
id (:func:`ratings_after`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, func, select

from recsys.datasets.titles import display_year
from recsys.db.queries import genres_by_movie
from recsys.db.schema import Movie, Prediction, Score, User, whole_if_whole
from recsys.readmodel.fingerprint import consistent, fingerprint
from recsys.readmodel.rows import UserRows
from recsys.readmodel.snapshot import MovieInfo, Snapshot
from recsys.rules import LIKED_RATING

#: Up to this many ratings the read model holds each user's rows as Python sets and lists
#: (about 100 bytes per rating, the fastest to read); above, as flat arrays (:mod:`rows`).
OBJECT_RATINGS = 2_000_000


def load_snapshot(engine: Engine, memory_ratings: int | None = None,
                  object_ratings: int = OBJECT_RATINGS) -> Snapshot:
    """Read everything the hot endpoints need. Each user's ratings and stored predictions:
    as Python objects up to ``object_ratings`` ratings, as flat arrays up to
    ``memory_ratings``, and above that not at all (the endpoints read them per request:
    memory bounded by the catalogue and the user ids)."""
    # the fingerprint and every row are read in one snapshot of the database: a rating
    # committed in between would otherwise be read but not counted, and every later check
    # would find the counts off and reload everything again while writes go on
    with consistent(engine) as conn:
        snap = Snapshot(fingerprint=fingerprint(conn))
        ratings = snap.fingerprint[0]
        per_request = memory_ratings is not None and ratings > memory_ratings
        snap.compact = per_request or ratings > object_ratings
        genres = genres_by_movie(conn)
        for m in conn.execute(select(Movie.id, Movie.title, Movie.release_date,
                                     Movie.imdb_url)):
            snap.movies[m.id] = MovieInfo(m.title, display_year(m.title, m.release_date),
                                          m.release_date, m.imdb_url, genres.get(m.id, []))
        snap.users = set(conn.execute(select(User.id)).scalars())
        if per_request:
            for movie, count, total, last in conn.execute(
                    select(Score.movie_id, func.count(), func.sum(Score.rating),
                           func.max(Score.id)).group_by(Score.movie_id)):
                info = snap.movies.get(movie)
                if info is not None:
                    info.ratings, info.rating_sum = int(count), whole_if_whole(total or 0)
                snap.last_score_id = max(snap.last_score_id, int(last))
            return snap
        if snap.compact:
            snap.rows, scores = UserRows.read(conn)
            stats = scores.groupby("movie_id").agg(count=("rating", "size"),
                                                   total=("rating", "sum"))
            for movie, count, total in zip(stats.index.tolist(), stats["count"].tolist(),
                                           stats["total"].tolist()):
                info = snap.movies.get(movie)
                if info is not None:
                    info.ratings, info.rating_sum = int(count), whole_if_whole(total)
            snap.last_score_id = int(scores["id"].max()) if len(scores) else 0
            return snap
        for score_id, user, movie, rating in conn.execute(
                select(Score.id, Score.user_id, Score.movie_id, Score.rating)
                .order_by(Score.user_id, Score.rating.desc(), Score.rated_at.desc(),
                          Score.id.desc())):
            snap.rated.setdefault(user, set()).add(movie)
            if rating >= LIKED_RATING:
                snap.liked.setdefault(user, []).append((movie, rating))
            info = snap.movies.get(movie)
            if info is not None:
                info.ratings += 1
                info.rating_sum += rating
            snap.last_score_id = max(snap.last_score_id, score_id)
        for row in conn.execute(select(Prediction.user_id, Prediction.movie_id,
                                       Prediction.predicted_rating, Prediction.score,
                                       Prediction.model_version)
                                .order_by(Prediction.user_id, Prediction.rank)):
            snap.predictions.setdefault(row.user_id, []).append(
                (row.movie_id, row.predicted_rating, row.score, row.model_version))
    return snap


def ratings_after(conn: Connection, score_id: int) -> list[tuple[int, int, int, float]]:
    """(id, user_id, movie_id, rating) of every rating stored after ``score_id``, in id
    order: what a refresh appends and what a worker catches up on."""
    return [(i, u, m, r) for i, u, m, r in conn.execute(
        select(Score.id, Score.user_id, Score.movie_id, Score.rating)
        .where(Score.id > score_id).order_by(Score.id))]


def user_snapshot(engine_or_session: Any, user_id: int) -> Snapshot:
    """A snapshot holding one user's rows only (the database path of the hot endpoints)."""
    snap = Snapshot()
    run = engine_or_session.execute
    exists = run(select(User.id).where(User.id == user_id)).scalar_one_or_none()
    if exists is None:
        return snap
    snap.users = {user_id}
    for movie, rating in run(select(Score.movie_id, Score.rating)
                             .where(Score.user_id == user_id)
                             .order_by(Score.rating.desc(), Score.rated_at.desc(),
                                       Score.id.desc())):
        snap.rated.setdefault(user_id, set()).add(movie)
        if rating >= LIKED_RATING:
            snap.liked.setdefault(user_id, []).append((movie, rating))
    snap.predictions[user_id] = [
        (r.movie_id, r.predicted_rating, r.score, r.model_version) for r in run(
            select(Prediction.movie_id, Prediction.predicted_rating, Prediction.score,
                   Prediction.model_version)
            .where(Prediction.user_id == user_id).order_by(Prediction.rank))]
    return snap


def movie_infos(engine_or_session: Any, movie_ids: list[int],
                with_stats: bool = False) -> dict[int, MovieInfo]:
    """MovieInfo for some movies, read from the database."""
    run = engine_or_session.execute
    if not movie_ids:
        return {}
    genres = genres_by_movie(engine_or_session, movie_ids)
    out = {m.id: MovieInfo(m.title, display_year(m.title, m.release_date),
                           m.release_date, m.imdb_url, genres.get(m.id, []))
           for m in run(select(Movie.id, Movie.title, Movie.release_date, Movie.imdb_url)
                        .where(Movie.id.in_(movie_ids)))}
    if with_stats:
        for movie_id, count, total in run(select(Score.movie_id, func.count(), func.sum(
                Score.rating)).where(Score.movie_id.in_(movie_ids)).group_by(Score.movie_id)):
            if movie_id in out:
                out[movie_id].ratings, out[movie_id].rating_sum = int(count), whole_if_whole(
                    total or 0)
    return out
