"""Queries several layers share (reading back, the entity layer, the API's read model)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, select

from recsys.db.schema import Genre, movie_genres


def genre_links(movie_ids: Iterable[int] | Select[Any] | None = None) -> Select[Any]:
    """(movie_id, genre name) pairs in movie and genre order, for some movies or all."""
    stmt = (select(movie_genres.c.movie_id, Genre.name)
            .join(Genre, Genre.id == movie_genres.c.genre_id)
            .order_by(movie_genres.c.movie_id, Genre.id))
    if movie_ids is not None:
        wanted = movie_ids if isinstance(movie_ids, Select) else [int(m) for m in movie_ids]
        stmt = stmt.where(movie_genres.c.movie_id.in_(wanted))
    return stmt


def genres_by_movie(run: Any, movie_ids: Iterable[int] | Select[Any] | None = None
                    ) -> dict[int, list[str]]:
    """Genre names per movie id (``run`` is a connection or a session)."""
    out: dict[int, list[str]] = {}
    for movie_id, name in run.execute(genre_links(movie_ids)):
        out.setdefault(int(movie_id), []).append(name)
    return out
