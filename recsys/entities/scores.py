"""Ratings: at most one per (user, movie)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from recsys import rules
from recsys.db.engine import begin_write
from recsys.db.schema import Movie, Score, User
from recsys.entities.base import (
    DuplicateIdError,
    EntityError,
    NotFoundError,
    _Entity,
    as_datetime,
    checked,
    frame,
    ids_of,
)


@dataclass(frozen=True)
class StoredRating:
    """A rating as stored, with its movie's title (what ``POST /scores`` answers)."""

    id: int
    user_id: int
    movie_id: int
    title: str
    rating: float
    rated_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Scores(_Entity[Score]):
    """Ratings: at most one per (user, movie)."""

    model = Score
    name = "score"
    fields = ("user_id", "movie_id", "rating", "rated_at")

    def add(self, user_id: int, movie_id: int, rating: float, rated_at: Any = None,
            id: int | None = None, overwrite: bool = False) -> int:
        """Add a rating (or replace one with ``overwrite``); returns the score id.

        A second rating of the same movie by the same user is refused unless ``overwrite``,
        which then replaces the earlier rating (keeping its id unless ``id`` is given).
        """
        values = {"user_id": user_id, "movie_id": movie_id, "rating": rating,
                  "rated_at": rated_at if rated_at is not None
                  else dt.datetime.now(dt.UTC)}
        values = self._check(values)
        earlier = self.session.execute(select(Score.id).where(
            Score.user_id == values["user_id"], Score.movie_id == values["movie_id"])
        ).scalar_one_or_none()
        if earlier is not None and earlier != id:
            if not overwrite:
                raise DuplicateIdError(
                    f"user {values['user_id']} already rated movie {values['movie_id']} "
                    f"(score {earlier}); pass overwrite=True to replace it")
            if id is None:
                id = earlier
            else:
                self.session.execute(delete(Score).where(Score.id == earlier))
        return self._store(values, id, overwrite)

    def add_rating(self, user_id: int, movie_id: int, rating: float,
                   rated_at: Any = None) -> StoredRating:
        """Store one new rating in a transaction of its own and commit it: the whole of
        ``POST /scores`` but the HTTP. On SQLite the write lock is taken first, so concurrent
        writers queue instead of failing later. Nothing stays half done: any error rolls
        back.

        Raises:
            NotFoundError: the user or the movie does not exist, or was removed meanwhile.
            DuplicateIdError: the user already rated the movie, or a concurrent request
                stored that rating first.
            EntityError: the rating breaks a rule (e.g. off the dataset's scale).
        """
        session = self.session
        begin_write(session)
        try:
            score_id = self.add(user_id, movie_id, rating, rated_at)
            row = session.get_one(Score, score_id)
            stored = StoredRating(row.id, row.user_id, row.movie_id,
                                  session.get_one(Movie, row.movie_id).title, row.rating,
                                  row.rated_at)
            session.commit()
            return stored
        except DuplicateIdError:
            session.rollback()
            raise DuplicateIdError(f"user {user_id} already rated movie {movie_id}") from None
        except IntegrityError:
            session.rollback()
            raise self._conflict(user_id, movie_id) from None
        except BaseException:
            session.rollback()
            raise

    def _conflict(self, user_id: int, movie_id: int) -> EntityError:
        """What a constraint the database enforced under a concurrent change means, read
        from the rows as they are now (never from the driver's message): the pair is rated,
        or the user or the movie was removed."""
        rated = self.session.execute(select(Score.id).where(
            Score.user_id == user_id, Score.movie_id == movie_id)).first()
        self.session.rollback()
        if rated is not None:
            return DuplicateIdError(f"user {user_id} already rated movie {movie_id}")
        return NotFoundError(f"user_id {user_id} or movie_id {movie_id} no longer exists")

    def scale(self) -> rules.RatingScale:
        """The rating scale of the dataset in the database (whole stars unless it says
        otherwise)."""
        from recsys.db import info as described

        return described.read(self.session.connection()).rating_scale

    def _check(self, values: dict[str, Any]) -> dict[str, Any]:
        rating = values["rating"]
        if hasattr(rating, "item") and not isinstance(rating, bool):  # NumPy scalars
            rating = rating.item()
        rating = checked(rules.check_rating, rating, self.scale())
        user_id = checked(rules.check_id, values["user_id"], "user_id")
        movie_id = checked(rules.check_id, values["movie_id"], "movie_id")
        if self.session.get(User, user_id) is None:
            raise NotFoundError(f"user_id {user_id} is not a known user")
        if self.session.get(Movie, movie_id) is None:
            raise NotFoundError(f"movie_id {movie_id} is not a known movie")
        return {"user_id": user_id, "movie_id": movie_id, "rating": rating,
                "rated_at": as_datetime(values["rated_at"], "rated_at")}

    def _normalise(self, field: str, value: Any) -> Any:
        return as_datetime(value, field) if field == "rated_at" else value

    def find(self, ids: int | Iterable[int] | None = None,
             user_ids: int | Iterable[int] | None = None,
             movie_ids: int | Iterable[int] | None = None,
             rating_min: float | None = None, rating_max: float | None = None
             ) -> pd.DataFrame:
        """Ratings matching every filter given, in id order."""
        stmt = select(Score.id, Score.user_id, Score.movie_id, Score.rating,
                      Score.rated_at).order_by(Score.id)
        for column, values in ((Score.id, ids), (Score.user_id, user_ids),
                               (Score.movie_id, movie_ids)):
            id_list = ids_of(values)
            if id_list is not None:
                stmt = stmt.where(column.in_(id_list))
        if rating_min is not None:
            stmt = stmt.where(Score.rating >= float(rating_min))
        if rating_max is not None:
            stmt = stmt.where(Score.rating <= float(rating_max))
        return frame(self.session, stmt)

    def of_user(self, user_id: int) -> list[dict[str, Any]]:
        """A user's ratings with titles, newest first (:class:`NotFoundError` for an unknown
        user)."""
        if self.session.get(User, int(user_id)) is None:
            raise NotFoundError(f"user {user_id} does not exist")
        rows = self.session.execute(
            select(Score.id, Score.user_id, Score.movie_id, Movie.title, Score.rating,
                   Score.rated_at).join(Movie, Movie.id == Score.movie_id)
            .where(Score.user_id == int(user_id)).order_by(Score.rated_at.desc(), Score.id))
        return [dict(row._mapping) for row in rows]
