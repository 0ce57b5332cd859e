"""Relational schema: SQLAlchemy 2 typed ORM models for every table.

Kept apart from :mod:`recsys.entities` (the operations on them) so that :mod:`recsys.db`, the
batch stage and the API can import the tables without the entity layer.

Design choices:
- ids are the dataset's own ids (no surrogate keys), so everything outside the model speaks
  database ids; new persons, movies and scores get theirs from the database (an identity
  column on PostgreSQL, the rowid on SQLite), so concurrent writers never pick the same id;
- users and workers are persons (their primary key is a foreign key to ``persons``);
- genres are normalised into ``genres`` + ``movie_genres`` (many-to-many);
- foreign keys from scores and predictions do not cascade: removing a movie or user that still
  has ratings is refused by the database unless the entity layer is asked to cascade, which it
  then does explicitly (see :mod:`recsys.entities`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: The widest range any rating scale spans (half stars 0.5..5, whole stars 1..5).
RATING_FLOOR, RATING_CEILING = 0.5, 5

#: Deterministic constraint names, so code can refer to them (bulk load drops and re-adds the
#: foreign keys of the tables it fills) and migrations stay predictable.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def whole_if_whole(value: Any) -> Any:
    """A rating (or a sum of ratings) as the database reads it back: an ``int`` when it is
    whole, else a ``float``; None stays None."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else float(value)


class Rating(TypeDecorator[float]):
    """A rating stored as a float (whole or half stars); read back as an ``int`` when it is
    whole, so whole-star data reads exactly as it was written on every dialect."""

    impl = Float
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return whole_if_whole(value)


class Base(DeclarativeBase):
    """Declarative base holding the metadata of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


movie_genres = Table(
    "movie_genres",
    Base.metadata,
    Column("movie_id", ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True),
    Column("genre_id", ForeignKey("genres.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_movie_genres_genre", "genre_id"),
)


class Person(Base):
    """A person (every user and worker is one). Name and demographics are NULL where the
    dataset has none (MovieLens has no names; 10M and later no demographics)."""

    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    full_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    birth_year: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    gender: Mapped[str | None] = mapped_column(String(1), nullable=True)
    zip_code: Mapped[str | None] = mapped_column(String(10), index=True, nullable=True)
    __table_args__ = (CheckConstraint("gender IN ('M', 'F')", name="gender"),)


class User(Base):
    """A person who rates movies."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True,
                                    autoincrement=False)
    occupation: Mapped[str | None] = mapped_column(String(50), index=True, nullable=True)
    active_since: Mapped[dt.datetime] = mapped_column(DateTime)
    person: Mapped[Person] = relationship(lazy="joined")


class Worker(Base):
    """A person who works for the course's company."""

    __tablename__ = "workers"
    id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True,
                                    autoincrement=False)
    position: Mapped[str] = mapped_column(String(100), index=True)
    category: Mapped[str] = mapped_column(String(10))
    working_hours: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[dt.date] = mapped_column(Date)
    person: Mapped[Person] = relationship(lazy="joined")


class Genre(Base):
    """One of the 19 MovieLens genres."""

    __tablename__ = "genres"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(30), unique=True)


class Movie(Base):
    """A movie; ``release_date`` is NULL when unknown (movie 267 in the course data)."""

    __tablename__ = "movies"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    release_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    imdb_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    genres: Mapped[list[Genre]] = relationship(secondary=movie_genres, lazy="selectin",
                                               order_by=Genre.id)


class Score(Base):
    """A user's rating of a movie (at most one per pair), on the dataset's scale (whole or
    half stars, see :class:`DatasetInfoRow`; the check admits both)."""

    __tablename__ = "scores"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id"))
    rating: Mapped[float] = mapped_column(Rating)
    rated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    __table_args__ = (
        UniqueConstraint("user_id", "movie_id"),
        CheckConstraint(f"rating BETWEEN {RATING_FLOOR} AND {RATING_CEILING}", name="rating"),
        Index("ix_scores_movie", "movie_id"),
    )


class DatasetInfoRow(Base):
    """What the ingested dataset is (one row): its name, rating scale and the rest of its
    description as JSON (:class:`recsys.datasets.info.DatasetInfo`)."""

    __tablename__ = "dataset_info"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(50))
    rating_scale: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text)


class Prediction(Base):
    """A stored recommendation: a user's top-N unseen movies from one model version."""

    __tablename__ = "predictions"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id"), primary_key=True)
    predicted_rating: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(64))
    __table_args__ = (
        Index("ix_predictions_user_rank", "user_id", "rank"),
        CheckConstraint("rank >= 1", name="rank"),
    )


class Cluster(Base):
    """A k-means cluster of users, with its profile (JSON) and a one-line description."""

    __tablename__ = "clusters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(500))
    profile: Mapped[str] = mapped_column(Text)
    model_version: Mapped[str] = mapped_column(String(64))


class UserCluster(Base):
    """Which cluster each user belongs to."""

    __tablename__ = "user_clusters"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True,
                                         autoincrement=False)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), index=True)
    distance: Mapped[float] = mapped_column(Float)


class DataChange(Base):
    """How many times rows of a mirrored table were updated or deleted (one row per table,
    kept by database triggers, :mod:`recsys.db.notify`): a change the API's read model cannot
    see in row counts and largest ids (a new title, a changed rating) still changes this."""

    __tablename__ = "data_changes"
    table_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


#: Tables whose ids the database generates (identity columns), in dependency order.
GENERATED_ID_TABLES = ("persons", "movies", "scores")

#: Tables in dependency order (parents first); deletes go in the reverse order.
TABLES_IN_ORDER: list[Table] = [Base.metadata.tables[name] for name in (
    "persons", "users", "workers", "genres", "movies", "movie_genres", "scores", "predictions",
    "clusters", "user_clusters")]
