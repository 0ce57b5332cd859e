"""Entity operations on the database: add, find and remove.

The course's first assignment, done right: Person, User, Worker, Movie and Score each get

- ``add``: the id is max+1 when none is given; an existing id is refused with
  :class:`DuplicateIdError` unless ``overwrite=True``, which replaces the row;
- ``find``: filters combined with AND, always through bound parameters (a title such as
  ``Schindler's List`` or ``'); DROP TABLE x;--`` is just text), returning a DataFrame;
- ``remove``: only when every field given matches the stored row, otherwise
  :class:`MismatchError` naming the field that differs;
- their statistics (tables and figures) live in :mod:`recsys.stats`.

What happens to dependents on ``remove`` is explicit: a person who is a user or a worker, and a
user or movie that still has scores, are refused with :class:`HasDependentsError` unless
``cascade=True``, which deletes the dependent scores, predictions, user and worker rows in the
same transaction. Operations flush but do not commit: the caller's session scope decides.

Example::

    with session_scope(engine) as session:
        movies = Movies(session)
        movies.find(title="schindler", genres=["Drama"])
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Generic, Iterable, TypeVar

import pandas as pd
from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from recsys import rules
from recsys.datasets import GENRES
from recsys.db.bulk import sync_identity
from recsys.db.queries import genres_by_movie
from recsys.errors import EntityError
from recsys.rules import RuleError
from recsys.schema import (
    GENERATED_ID_TABLES,
    Base,
    Genre,
    Movie,
    Person,
    Prediction,
    Score,
    User,
    UserCluster,
    Worker,
    movie_genres,
)


class DuplicateIdError(EntityError):
    """The id exists already and ``overwrite`` was not requested."""


class NotFoundError(EntityError, LookupError):
    """No row has that id."""


class MismatchError(EntityError):
    """``remove`` was given a field value that differs from the stored row."""


class HasDependentsError(EntityError):
    """``remove`` would orphan other rows and ``cascade`` was not requested."""


M = TypeVar("M", bound=Base)


def _contains(column: Any, text: str) -> Any:
    """Case-insensitive substring match with LIKE wildcards escaped (a bound parameter)."""
    return func.lower(column).contains(text.lower(), autoescape=True)


def _as_date(value: Any, field: str) -> dt.date | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        raise EntityError(f"{field}: {value!r} is not a date") from None


def _as_datetime(value: Any, field: str) -> dt.datetime | None:
    """An instant as stored (naive UTC), within the accepted range (see :mod:`recsys.rules`)."""
    if value is None or value is pd.NaT:
        return None
    try:
        return rules.check_timestamp(value, field)
    except RuleError as exc:
        raise EntityError(str(exc)) from None


def _checked(check: Any, *args: Any) -> Any:
    """Run a :mod:`recsys.rules` check, reporting a broken rule as an :class:`EntityError`."""
    try:
        return check(*args)
    except RuleError as exc:
        raise EntityError(str(exc)) from None


def _frame(session: Session, stmt: Select[Any]) -> pd.DataFrame:
    result = session.execute(stmt)
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def _ids(values: int | Iterable[int] | None) -> list[int] | None:
    if values is None:
        return None
    if isinstance(values, int):
        return [values]
    return [int(v) for v in values]


class _Entity(Generic[M]):
    """Shared mechanics of add / remove for one ORM model."""

    model: ClassVar[type]
    name: ClassVar[str]
    #: data fields compared by ``remove`` and set by ``add`` (besides the id)
    fields: ClassVar[tuple[str, ...]]

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- reading -------------------------------------------------------------------------------
    def next_id(self) -> int:
        """The largest id plus one (1 if empty): what ``add`` gives a user or worker without
        an id (persons, movies and scores get theirs from the database)."""
        largest = self.session.execute(select(func.max(self.model.id))).scalar_one_or_none()
        return int(largest or 0) + 1

    def get(self, id: int) -> dict[str, Any]:
        """The row with this id as a dict; :class:`NotFoundError` if there is none."""
        row = self.session.get(self.model, int(id))
        if row is None:
            raise NotFoundError(f"{self.name} {id} does not exist")
        return self._as_dict(row)

    def count(self) -> int:
        """Number of rows."""
        return int(self.session.execute(select(func.count()).select_from(self.model)).scalar_one())

    def _as_dict(self, row: Any) -> dict[str, Any]:
        return {"id": row.id, **{f: getattr(row, f) for f in self.fields}}

    # -- writing -------------------------------------------------------------------------------
    def _check(self, values: dict[str, Any]) -> dict[str, Any]:
        """Validate and normalise field values before they reach the database."""
        return values

    def _store(self, values: dict[str, Any], id: int | None, overwrite: bool) -> int:
        values = self._check(values)
        table = self.model.__tablename__
        generated = table in GENERATED_ID_TABLES
        if id is None and generated:  # the database picks the id: safe under concurrency
            row = self.model(**values)
            self.session.add(row)
            self.session.flush()
            return int(row.id)
        low = 0 if table == "scores" else rules.MIN_ID  # scores.csv numbers rows from 0
        new_id = self.next_id() if id is None else _checked(rules.check_id, id, "id", low)
        existing = self.session.get(self.model, new_id)
        if existing is not None and not overwrite:
            raise DuplicateIdError(
                f"{self.name} id {new_id} already exists; pass overwrite=True to replace it")
        if existing is None:
            self.session.add(self.model(id=new_id, **values))
        else:
            for key, value in values.items():
                setattr(existing, key, value)
        self.session.flush()
        if generated:
            sync_identity(self.session.connection(), table)
        return new_id

    def _normalise(self, field: str, value: Any) -> Any:
        """How a field is compared by ``remove`` (dates as dates, genres as sets...)."""
        return value

    def _dependents(self, id: int) -> dict[str, int]:
        """Rows that reference this one, by kind (refused unless cascade)."""
        return {}

    def _cascade(self, id: int) -> None:
        """Delete the dependents listed by :meth:`_dependents`."""

    def remove(self, id: int, cascade: bool = False, **expected: Any) -> None:
        """Delete row ``id`` when every field matches ``expected``.

        Args:
            id: the row's id.
            cascade: also delete rows that depend on this one (see the module docstring).
            **expected: every data field of the row, as the caller believes it to be.

        Raises:
            NotFoundError: no such id.
            EntityError: a field is missing from ``expected`` or unknown.
            MismatchError: a field differs from the stored value (the message names it).
            HasDependentsError: dependents exist and ``cascade`` is False.
        """
        row = self.session.get(self.model, int(id))
        if row is None:
            raise NotFoundError(f"{self.name} {id} does not exist")
        unknown = sorted(set(expected) - set(self.fields))
        if unknown:
            raise EntityError(f"unknown field(s) for {self.name}: {', '.join(unknown)}")
        missing = [f for f in self.fields if f not in expected]
        if missing:
            raise EntityError(f"remove needs every field of {self.name} {id} to match; "
                              f"missing: {', '.join(missing)}")
        stored = self._as_dict(row)
        for field in self.fields:
            if self._normalise(field, stored[field]) != self._normalise(field, expected[field]):
                raise MismatchError(
                    f"{self.name} {id} not removed: field {field!r} differs "
                    f"(stored {stored[field]!r}, given {expected[field]!r})")
        dependents = {k: v for k, v in self._dependents(int(id)).items() if v}
        if dependents and not cascade:
            listed = ", ".join(f"{n} {k}" for k, n in dependents.items())
            raise HasDependentsError(
                f"{self.name} {id} has {listed}; pass cascade=True to delete them too")
        if dependents:
            self._cascade(int(id))
        self.session.delete(row)
        self.session.flush()


def _count(session: Session, column: Any, id: int) -> int:
    return int(session.execute(select(func.count()).where(column == id)).scalar_one())


def _delete_user_rows(session: Session, user_id: int) -> None:
    session.execute(delete(UserCluster).where(UserCluster.user_id == user_id))
    session.execute(delete(Prediction).where(Prediction.user_id == user_id))
    session.execute(delete(Score).where(Score.user_id == user_id))


class Persons(_Entity[Person]):
    """Persons: every user and worker is one."""

    model = Person
    name = "person"
    fields = ("full_name", "birth_year", "gender", "zip_code")

    def add(self, full_name: str, birth_year: int, gender: str, zip_code: str,
            id: int | None = None, overwrite: bool = False) -> int:
        """Add a person (or replace one with ``overwrite``); returns the id."""
        return self._store({"full_name": full_name, "birth_year": birth_year, "gender": gender,
                            "zip_code": zip_code}, id, overwrite)

    def _check(self, values: dict[str, Any]) -> dict[str, Any]:
        return {"full_name": _checked(rules.check_text, values["full_name"], "full_name", 200),
                "birth_year": _checked(rules.check_birth_year, values["birth_year"]),
                "gender": _checked(rules.check_gender, values["gender"]),
                "zip_code": _checked(rules.check_zip, values["zip_code"])}

    def find(self, ids: int | Iterable[int] | None = None, name: str | None = None,
             birth_year_from: int | None = None, birth_year_to: int | None = None,
             gender: str | None = None, zip_code: str | None = None) -> pd.DataFrame:
        """Persons matching every filter given (name: case-insensitive substring)."""
        stmt = select(Person.id, Person.full_name, Person.birth_year, Person.gender,
                      Person.zip_code).order_by(Person.id)
        stmt = _person_filters(stmt, ids, Person.id, name, birth_year_from, birth_year_to,
                               gender, zip_code)
        return _frame(self.session, stmt)

    def _dependents(self, id: int) -> dict[str, int]:
        user = self.session.get(User, id)
        return {"user row": int(user is not None),
                "worker row": int(self.session.get(Worker, id) is not None),
                "scores": _count(self.session, Score.user_id, id) if user else 0}

    def _cascade(self, id: int) -> None:
        _delete_user_rows(self.session, id)
        self.session.execute(delete(Worker).where(Worker.id == id))
        self.session.execute(delete(User).where(User.id == id))



def _person_filters(stmt: Select[Any], ids: Any, id_column: Any, name: str | None,
                    birth_year_from: int | None, birth_year_to: int | None,
                    gender: str | None, zip_code: str | None) -> Select[Any]:
    """Filters on the person part of a row (shared by persons, users and workers)."""
    id_list = _ids(ids)
    if id_list is not None:
        stmt = stmt.where(id_column.in_(id_list))
    if name:
        stmt = stmt.where(_contains(Person.full_name, name))
    if birth_year_from is not None:
        stmt = stmt.where(Person.birth_year >= int(birth_year_from))
    if birth_year_to is not None:
        stmt = stmt.where(Person.birth_year <= int(birth_year_to))
    if gender:
        stmt = stmt.where(Person.gender == gender.strip().upper())
    if zip_code:
        stmt = stmt.where(Person.zip_code == zip_code.strip())
    return stmt


class Users(_Entity[User]):
    """Users: persons who rate movies."""

    model = User
    name = "user"
    fields = ("occupation", "active_since")

    def add(self, id: int | None = None, occupation: str = "other",
            active_since: Any = None, overwrite: bool = False) -> int:
        """Make an existing person a user (or replace a user with ``overwrite``).

        ``id`` defaults to max+1, which only works if that person exists: add the person first.
        ``active_since`` defaults to now.
        """
        values = {"occupation": occupation,
                  "active_since": active_since if active_since is not None
                  else dt.datetime.now(dt.timezone.utc)}
        new_id = self.next_id() if id is None else int(id)
        if self.session.get(Person, new_id) is None:
            raise EntityError(f"person {new_id} does not exist: a user must be a person, "
                              "add the person first")
        return self._store(values, new_id, overwrite)

    def _check(self, values: dict[str, Any]) -> dict[str, Any]:
        occupation = _checked(rules.check_text, values["occupation"], "occupation", 50)
        return {"occupation": occupation,
                "active_since": _as_datetime(values["active_since"], "active_since")}

    def _normalise(self, field: str, value: Any) -> Any:
        return _as_datetime(value, field) if field == "active_since" else value

    def find(self, ids: int | Iterable[int] | None = None, occupation: str | None = None,
             name: str | None = None, gender: str | None = None, zip_code: str | None = None,
             birth_year_from: int | None = None, birth_year_to: int | None = None
             ) -> pd.DataFrame:
        """Users (with their person fields) matching every filter given."""
        stmt = (select(User.id, Person.full_name, Person.birth_year, Person.gender,
                       Person.zip_code, User.occupation, User.active_since)
                .join(Person, Person.id == User.id).order_by(User.id))
        stmt = _person_filters(stmt, ids, User.id, name, birth_year_from, birth_year_to,
                               gender, zip_code)
        if occupation:
            stmt = stmt.where(func.lower(User.occupation) == occupation.strip().lower())
        return _frame(self.session, stmt)

    def _dependents(self, id: int) -> dict[str, int]:
        return {"scores": _count(self.session, Score.user_id, id),
                "predictions": _count(self.session, Prediction.user_id, id)}

    def _cascade(self, id: int) -> None:
        _delete_user_rows(self.session, id)



class Workers(_Entity[Worker]):
    """Workers: persons employed by the course's company."""

    model = Worker
    name = "worker"
    fields = ("position", "category", "working_hours", "start_date")

    def add(self, id: int, position: str, category: str, working_hours: str,
            start_date: Any, overwrite: bool = False) -> int:
        """Make an existing person a worker (or replace a worker with ``overwrite``)."""
        if self.session.get(Person, int(id)) is None:
            raise EntityError(f"person {id} does not exist: a worker must be a person, "
                              "add the person first")
        return self._store({"position": position, "category": category,
                            "working_hours": working_hours, "start_date": start_date},
                           id, overwrite)

    def _check(self, values: dict[str, Any]) -> dict[str, Any]:
        if values["start_date"] is None:
            raise EntityError("start_date is required")
        return {"position": _checked(rules.check_text, values["position"], "position", 100),
                "category": _checked(rules.check_text, values["category"], "category", 10),
                "working_hours": _checked(rules.check_working_hours, values["working_hours"]),
                "start_date": _checked(rules.check_date, values["start_date"], "start_date")}

    def _normalise(self, field: str, value: Any) -> Any:
        return _as_date(value, field) if field == "start_date" else value

    def find(self, ids: int | Iterable[int] | None = None, position: str | None = None,
             category: str | None = None, name: str | None = None, gender: str | None = None,
             zip_code: str | None = None) -> pd.DataFrame:
        """Workers (with their person fields) matching every filter given."""
        stmt = (select(Worker.id, Person.full_name, Person.gender, Worker.position,
                       Worker.category, Worker.working_hours, Worker.start_date)
                .join(Person, Person.id == Worker.id).order_by(Worker.id))
        stmt = _person_filters(stmt, ids, Worker.id, name, None, None, gender, zip_code)
        if position:
            stmt = stmt.where(func.lower(Worker.position) == position.strip().lower())
        if category:
            stmt = stmt.where(Worker.category == category.strip())
        return _frame(self.session, stmt)



def _year_bounds(stmt: Select[Any], year_from: int | None, year_to: int | None) -> Select[Any]:
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
        title = _checked(rules.check_text, values["title"], "title", 300)
        unknown = [g for g in values["genres"] if g not in GENRES]
        if unknown:
            raise EntityError(f"unknown genre(s) {unknown}; valid genres: {', '.join(GENRES)}")
        genre_rows = self.session.scalars(select(Genre).where(
            Genre.name.in_(list(values["genres"])))).all()
        return {"title": title, "release_date": _as_date(values["release_date"], "release_date"),
                "imdb_url": values["imdb_url"] or None,
                "genres": sorted(genre_rows, key=lambda g: g.id)}

    def _normalise(self, field: str, value: Any) -> Any:
        if field == "release_date":
            return _as_date(value, field)
        if field == "genres":
            return frozenset(value or ())
        if field == "imdb_url":
            return value or None
        return value

    def filtered_ids(self, ids: Any, title: str | None, year_from: int | None,
                  year_to: int | None, genres: Iterable[str] | None) -> Select[Any]:
        """A query of the ids of the movies matching every filter given (see :meth:`find`)."""
        stmt = select(Movie.id)
        id_list = _ids(ids)
        if id_list is not None:
            stmt = stmt.where(Movie.id.in_(id_list))
        if title:
            stmt = stmt.where(_contains(Movie.title, title))
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
        table = _frame(self.session, stmt)
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
        return {"scores": _count(self.session, Score.movie_id, id),
                "predictions": _count(self.session, Prediction.movie_id, id)}

    def _cascade(self, id: int) -> None:
        self.session.execute(delete(Prediction).where(Prediction.movie_id == id))
        self.session.execute(delete(Score).where(Score.movie_id == id))



class Scores(_Entity[Score]):
    """Ratings: at most one per (user, movie)."""

    model = Score
    name = "score"
    fields = ("user_id", "movie_id", "rating", "rated_at")

    def add(self, user_id: int, movie_id: int, rating: int, rated_at: Any = None,
            id: int | None = None, overwrite: bool = False) -> int:
        """Add a rating (or replace one with ``overwrite``); returns the score id.

        A second rating of the same movie by the same user is refused unless ``overwrite``,
        which then replaces the earlier rating (keeping its id unless ``id`` is given).
        """
        values = {"user_id": user_id, "movie_id": movie_id, "rating": rating,
                  "rated_at": rated_at if rated_at is not None
                  else dt.datetime.now(dt.timezone.utc)}
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

    def _check(self, values: dict[str, Any]) -> dict[str, Any]:
        rating = values["rating"]
        if hasattr(rating, "item") and not isinstance(rating, bool):  # NumPy scalars
            rating = rating.item()
        rating = _checked(rules.check_rating, rating)
        user_id = _checked(rules.check_id, values["user_id"], "user_id")
        movie_id = _checked(rules.check_id, values["movie_id"], "movie_id")
        if self.session.get(User, user_id) is None:
            raise EntityError(f"user_id {user_id} is not a known user")
        if self.session.get(Movie, movie_id) is None:
            raise EntityError(f"movie_id {movie_id} is not a known movie")
        return {"user_id": user_id, "movie_id": movie_id, "rating": rating,
                "rated_at": _as_datetime(values["rated_at"], "rated_at")}

    def _normalise(self, field: str, value: Any) -> Any:
        return _as_datetime(value, field) if field == "rated_at" else value

    def find(self, ids: int | Iterable[int] | None = None,
             user_ids: int | Iterable[int] | None = None,
             movie_ids: int | Iterable[int] | None = None,
             rating_min: int | None = None, rating_max: int | None = None) -> pd.DataFrame:
        """Ratings matching every filter given, in id order."""
        stmt = select(Score.id, Score.user_id, Score.movie_id, Score.rating,
                      Score.rated_at).order_by(Score.id)
        for column, values in ((Score.id, ids), (Score.user_id, user_ids),
                               (Score.movie_id, movie_ids)):
            id_list = _ids(values)
            if id_list is not None:
                stmt = stmt.where(column.in_(id_list))
        if rating_min is not None:
            stmt = stmt.where(Score.rating >= int(rating_min))
        if rating_max is not None:
            stmt = stmt.where(Score.rating <= int(rating_max))
        return _frame(self.session, stmt)



class Entities:
    """The five entity collections over one session: ``Entities(session).movies.find(...)``."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.persons = Persons(session)
        self.users = Users(session)
        self.workers = Workers(session)
        self.movies = Movies(session)
        self.scores = Scores(session)
