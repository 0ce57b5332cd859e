"""One facade for every read the hot endpoints make (:class:`ReadModel`): it decides, in one
place, whether a row comes from the in-memory snapshot or from the database, and hands back
the response cache's key only for what memory served (a database read is never cached: no
generation would tell when it went stale)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from recsys.readmodel.queries import movie_infos, user_snapshot
from recsys.readmodel.refresh import ServingCache
from recsys.readmodel.snapshot import MovieInfo, Snapshot

T = TypeVar("T")


@dataclass(frozen=True)
class Read(Generic[T]):
    """A value and where it came from: ``key`` is the response cache's key when memory
    served it (it changes with the row's generation), None when the database did."""

    value: T
    key: tuple[Any, ...] | None


@dataclass(frozen=True)
class UserRows:
    """What recommending to one user reads: ``rows()`` gives a snapshot holding that user's
    rated, liked and stored-prediction rows (read when called: a cached answer needs none);
    ``catalogue`` is every movie when memory holds them (empty: look movies up)."""

    rows: Callable[[], Snapshot]
    catalogue: dict[int, MovieInfo]


class ReadModel:
    """Reads for the hot endpoints: memory when the snapshot holds the row, else the
    database through ``session`` (the request's session)."""

    def __init__(self, cache: ServingCache | None, session: Callable[[], Session]) -> None:
        self.cache = cache
        self.session = session
        self.snapshot = cache.snapshot if cache is not None else None

    def _key(self, kind: str, id: int) -> tuple[Any, ...] | None:
        return (kind, id, self.cache.generation(kind, id)) if self.cache is not None else None

    def movie(self, movie_id: int) -> Read[MovieInfo] | None:
        """One movie with its rating count and sum; None when it does not exist."""
        snap = self.snapshot
        if snap is not None and movie_id in snap.movies:
            return Read(snap.movies[movie_id], self._key("movie", movie_id))
        infos = movie_infos(self.session(), [movie_id], with_stats=True)
        return Read(infos[movie_id], None) if movie_id in infos else None

    def movies(self, movie_ids: list[int]) -> dict[int, MovieInfo]:
        """Title, year and genres of the movies that exist among ``movie_ids`` (no rating
        counts), read from the database: what a list of recommendations looks up."""
        return movie_infos(self.session(), movie_ids)

    def title(self, movie_id: int) -> str | None:
        """A movie's title; None when it does not exist."""
        snap = self.snapshot
        if snap is not None and movie_id in snap.movies:
            return snap.movies[movie_id].title
        infos = movie_infos(self.session(), [movie_id])
        return infos[movie_id].title if movie_id in infos else None

    def existing(self, movie_ids: list[int]) -> set[int]:
        """The movies among ``movie_ids`` that the database has now (an index or a stored
        prediction can be older than an ``ingest --replace``)."""
        snap = self.snapshot
        if snap is not None:
            return {m for m in movie_ids if m in snap.movies}
        return set(movie_infos(self.session(), movie_ids))

    def user(self, user_id: int) -> Read[UserRows] | None:
        """What recommending to ``user_id`` reads; None when the user does not exist."""
        snap = self.snapshot
        if snap is not None and user_id in snap.users:
            if snap.per_request:  # the user's rows from the database, movies from memory
                return Read(UserRows(lambda: user_snapshot(self.session(), user_id),
                                     snap.movies), self._key("user", user_id))
            return Read(UserRows(lambda: snap.for_user(user_id), snap.movies),
                        self._key("user", user_id))
        one = user_snapshot(self.session(), user_id)
        if user_id not in one.users:
            return None
        return Read(UserRows(lambda: one, {}), None)
