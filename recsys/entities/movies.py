"""Movies with their genres."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pandas as pd
from sqlalchemy import Select, delete, func, select

from recsys import rules
from recsys.datasets.tables import GENRES
from recsys.db.queries import genres_by_movie
from recsys.db.schema import Genre, Movie, Prediction, Score, movie_genres
from recsys.entities.base import (
    EntityError,
    _Entity,
    as_date,
    checked,
    contains,
    count_where,
    frame,
    ids_of,
)


def _year_bounds(stmt: Select, year_from: int | None, year_to: int | None) -> Select:
    if year_from is not None:
        stmt = stmt.where(Movie.release_date >= dt.date(int(year_from), 1, 1))
    if year_to is not None:
        stmt = stmt.where(Movie.release_date <= dt.date(int(year_to), 12, 31))
    return stmt


class Movies(_Entity[Movie]):
    """Movies with their genres."""

    model = Movie
    name = "movie"
    fields = ("title", "release_date", "imdb_url", "genres")

    def _as_dict(self, row: Any) -> dict[str, Any]:
        return {"id": row.id, "title": row.title, "release_date": row.release_date,
                "imdb_url": row.imdb_url, "genres": [g.name for g in row.genres]}

    def add(self, title: str, release_date: Any = None, imdb_url: str | None = None,
            genres: Iterable[str] = (), id: int | None = None, overwrite: bool = False) -> int:
        """Add a movie (or replace one with ``overwrite``); returns the id."""
        return self._store({"title": title, "release_date": release_date,
                            "imdb_url": imdb_url, "genres": list(genres)}, id, overwrite)

    def _check(self, values: dict[str, Any]) -> dict[str, Any]:
        title = checked(rules.check_text, values["title"], "title", 300)
        unknown = [g for g in values["genres"] if g not in GENRES]
        if unknown:
            raise EntityError(f"unknown genre(s) {unknown}; valid genres: {', '.join(GENRES)}")
        genre_rows = self.session.scalars(select(Genre).where(
            Genre.name.in_(list(values["genres"])))).all()
        return {"title": title, "release_date": as_date(values["release_date"], "release_date"),
                "imdb_url": values["imdb_url"] or None,
                "genres": sorted(genre_rows, key=lambda g: g.id)}

    def _normalise(self, field: str, value: Any) -> Any:
        if field == "release_date":
            return as_date(value, field)
        if field == "genres":
            return frozenset(value or ())
        if field == "imdb_url":
            return value or None
        return value

    def filtered_ids(self, ids: Any, title: str | None, year_from: int | None,
                  year_to: int | None, genres: Iterable[str] | None) -> Select:
        """A query of the ids of the movies matching every filter given (see :meth:`find`)."""
        stmt = select(Movie.id)
        id_list = ids_of(ids)
        if id_list is not None:
            stmt = stmt.where(Movie.id.in_(id_list))
        if title:
            stmt = stmt.where(contains(Movie.title, title))
        stmt = _year_bounds(stmt, year_from, year_to)
        wanted = list(dict.fromkeys(genres or ()))
        if wanted:
            having_all = (select(movie_genres.c.movie_id)
                          .join(Genre, Genre.id == movie_genres.c.genre_id)
                          .where(Genre.name.in_(wanted))
                          .group_by(movie_genres.c.movie_id)
                          .having(func.count(func.distinct(Genre.id)) == len(wanted)))
            stmt = stmt.where(Movie.id.in_(having_all))
        return stmt

    def find(self, ids: int | Iterable[int] | None = None, title: str | None = None,
             year_from: int | None = None, year_to: int | None = None,
             genres: Iterable[str] | None = None, limit: int | None = None,
             offset: int = 0) -> pd.DataFrame:
        """Movies matching every filter given.

        Args:
            ids: one id or several.
            title: case-insensitive substring of the title.
            year_from / year_to: release year range, inclusive (movies with no date never match).
            genres: every one of these genres is required.
            limit / offset: paging, in id order.

        Returns:
            Columns id, title, release_date, imdb_url, genres (list).
        """
        wanted = self.filtered_ids(ids, title, year_from, year_to, genres)
        stmt = (select(Movie.id, Movie.title, Movie.release_date, Movie.imdb_url)
                .where(Movie.id.in_(wanted)).order_by(Movie.id).offset(offset))
        if limit is not None:
            stmt = stmt.limit(limit)
        table = frame(self.session, stmt)
        by_movie = genres_by_movie(self.session, table["id"].tolist())
        table["genres"] = [by_movie.get(int(i), []) for i in table["id"]]
        return table

    def count_matching(self, ids: Any = None, title: str | None = None,
                       year_from: int | None = None, year_to: int | None = None,
                       genres: Iterable[str] | None = None) -> int:
        """How many movies :meth:`find` would return without paging."""
        sub = self.filtered_ids(ids, title, year_from, year_to, genres).subquery()
        return int(self.session.execute(select(func.count()).select_from(sub)).scalar_one())

    def _dependents(self, id: int) -> dict[str, int]:
        return {"scores": count_where(self.session, Score.movie_id, id),
                "predictions": count_where(self.session, Prediction.movie_id, id)}

    def _cascade(self, id: int) -> None:
        self.session.execute(delete(Prediction).where(Prediction.movie_id == id))
        self.session.execute(delete(Score).where(Score.movie_id == id))
