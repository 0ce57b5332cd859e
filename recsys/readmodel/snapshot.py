"""The read model's data: everything the hot endpoints read, as of one fingerprint of the
database (:class:`Snapshot`), and what an answer says about a movie (:class:`MovieInfo`).
Pure data: no queries, no threads."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from recsys.readmodel.rows import UserRows
from recsys.rules import LIKED_RATING


@dataclass
class MovieInfo:
    """What responses say about a movie."""

    title: str
    year: int | None
    release_date: Any
    imdb_url: str | None
    genres: list[str]
    ratings: int = 0
    rating_sum: float = 0


@dataclass
class Snapshot:
    """Everything the hot endpoints read, as of one fingerprint of the database."""

    fingerprint: tuple[Any, ...] = ()
    movies: dict[int, MovieInfo] = field(default_factory=dict)
    users: set[int] = field(default_factory=set)
    predictions: dict[int, list[tuple[int, float, float, str]]] = field(default_factory=dict)
    rated: dict[int, set[int]] = field(default_factory=dict)
    liked: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    #: largest score id applied, and ids above it already applied by this process
    last_score_id: int = 0
    noted: set[int] = field(default_factory=set)
    #: compact: the dictionaries above stay empty; each user's ratings and stored
    #: predictions are slices of flat arrays (``rows``, :meth:`for_user`), or, past
    #: ``RECSYS_API_MEMORY_RATINGS``, read from the database per request (``rows`` None)
    compact: bool = False
    rows: UserRows | None = None

    @property
    def per_request(self) -> bool:
        """Each user's rows are read from the database per request."""
        return self.compact and self.rows is None

    def add_rating(self, user_id: int, movie_id: int, rating: float) -> None:
        """Apply one new rating (idempotence is the caller's job: see ``noted``)."""
        if self.rows is not None:
            self.rows.add(user_id, movie_id, rating)
        else:
            self._add_user_rating(user_id, movie_id, rating)
        info = self.movies.get(movie_id)
        if info is not None:
            info.ratings += 1
            info.rating_sum += rating

    def _add_user_rating(self, user_id: int, movie_id: int, rating: float) -> None:
        self.rated.setdefault(user_id, set()).add(movie_id)
        if rating >= LIKED_RATING:
            liked = self.liked.setdefault(user_id, [])
            # best rating first, newest first within a rating
            position = bisect.bisect_left([-r for _, r in liked], -rating)
            liked.insert(position, (movie_id, rating))

    def for_user(self, user_id: int) -> Snapshot:
        """The snapshot the recommendations of one user read: this one, or (compact) a
        snapshot of that user's rows built from the arrays."""
        if self.rows is None:
            return self
        one = Snapshot(users={user_id} & self.users)
        rated, liked, predictions = self.rows.of(user_id)
        if rated:
            one.rated[user_id] = rated
        if liked:
            one.liked[user_id] = liked
        one.predictions[user_id] = predictions
        return one
