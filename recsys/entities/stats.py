"""Statistics of the course's first assignment, each a table and a figure (:class:`Stat`).

Kept apart from the entity operations (:mod:`recsys.entities`: add, find, remove): these read
through a session and draw. Every average comes with the number of ratings behind it and is
sorted by value, so "Film-Noir 5.0" from three ratings cannot pass for a finding; years of
movies are the years in their titles (see :mod:`recsys.datasets.titles`).

Example::

    with db.session_scope(engine) as session:
        stat = stats.rating_by_genre(session)
        stat.table, stat.figure
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from recsys.datasets.titles import display_year
from recsys.db.schema import Genre, Movie, Person, Score, User, Worker, movie_genres
from recsys.display import plots
from recsys.display.plots import Stat
from recsys.entities import Movies, NotFoundError
from recsys.rules import WORKING_HOURS_RE

__all__ = ["Stat", "movies_oldest_and_newest", "movies_per_genre", "movies_per_year",
           "persons_by_birth_band_and_gender", "rating_by_birth_band", "rating_by_gender",
           "rating_by_genre", "rating_by_occupation", "rating_by_position",
           "rating_distribution", "user_rating_by_genre", "user_rating_by_year",
           "users_by_occupation", "workers_by_category", "workers_by_position",
           "workers_by_working_hours"]


def _frame(session: Session, stmt: Select) -> pd.DataFrame:
    result = session.execute(stmt)
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def _ranked(table: pd.DataFrame, key: str, value: str, title: str) -> Stat:
    """Counts per category, largest first (ties by name), as a table and a horizontal bar."""
    table = table.sort_values([value, key], ascending=[False, True], ignore_index=True)
    return Stat(table, plots.bar(table, key, value, title, horizontal=True))


def _sums(session: Session, key: Any, stmt: Select) -> pd.DataFrame:
    """The ratings of ``stmt``'s joins grouped by ``key`` in the database: one row per key
    with ``total`` (sum of ratings) and ``ratings`` (count). The database adds up the
    100,000 ratings; Python reads one row per group, not one per rating (0.1 s against
    1 s per chart on the course data)."""
    return _frame(session, stmt.add_columns(func.sum(Score.rating).label("total"),
                                            func.count().label("ratings")).group_by(key))


def _means(sums: pd.DataFrame, key: str) -> pd.DataFrame:
    """Mean rating and number of ratings per ``key`` (groups without a key left out), best
    first, means rounded to 2."""
    sums = sums.dropna(subset=[key])
    table = pd.DataFrame({key: sums[key].to_numpy(),
                          "mean_rating": (sums["total"].astype(float)
                                          / sums["ratings"]).round(2).to_numpy(),
                          "ratings": sums["ratings"].astype("int64").to_numpy()})
    return table.sort_values(["mean_rating", key], ascending=[False, True], ignore_index=True)


def _mean_stat(sums: pd.DataFrame, key: str, title: str,
               overall: float | None = None, by_value: bool = True) -> Stat:
    """A chart of mean ratings from :func:`_sums`' groups. ``overall``: the mean of the
    ratings behind the bars, each counted once (default: the mean over the groups, right
    when each rating falls in one group). ``by_value`` False: groups in the order of
    ``key`` (bands of years by date)."""
    table = _means(sums, key)
    if not by_value:
        table = table.sort_values(key, ignore_index=True)
    counted = sums.dropna(subset=[key])
    if overall is None and counted["ratings"].sum():
        overall = float(counted["total"].astype(float).sum() / counted["ratings"].sum())
    return Stat(table, plots.mean_bars(table, key, title, overall=overall, by_value=by_value))


def _mean_rating(session: Session, user_id: int | None = None) -> float | None:
    stmt = select(func.avg(Score.rating))
    if user_id is not None:
        stmt = stmt.where(Score.user_id == int(user_id))
    value = session.execute(stmt).scalar_one_or_none()
    return float(value) if value is not None else None


def _birth_band(years: pd.Series, width: int) -> pd.Series:
    start = (years // width) * width
    return start.astype(str) + "-" + (start + width - 1).astype(str)


def _movie_years(session: Session, year_from: int | None = None, year_to: int | None = None,
                 genres: Iterable[str] | None = None) -> pd.DataFrame:
    """Dated movies (within the filters) with their display year."""
    wanted = Movies(session).filtered_ids(None, None, year_from, year_to, genres)
    table = _frame(session, select(Movie.id, Movie.title, Movie.release_date)
                   .where(Movie.id.in_(wanted)))
    table["year"] = [display_year(t, d) for t, d in zip(table["title"], table["release_date"])]
    return table.dropna(subset=["year"]).astype({"year": "int64"})


# -- movies ------------------------------------------------------------------------------------


def movies_oldest_and_newest(session: Session) -> Stat:
    """The oldest and the newest movie (by the year in the title), against the number of
    movies per release decade."""
    dated = _movie_years(session).sort_values(["year", "release_date", "id"])
    table = pd.concat([dated.head(1).assign(which="oldest"),
                       dated.tail(1).assign(which="newest")], ignore_index=True)
    table = table[["which", "id", "title", "year", "release_date"]]
    return Stat(table, plots.decades(dated["year"], table, "Movies per release decade"))


def movies_per_year(session: Session, year_from: int | None = None,
                    year_to: int | None = None, genres: Iterable[str] | None = None) -> Stat:
    """Movies per year, optionally within years and with every given genre."""
    table = (_movie_years(session, year_from, year_to, genres).groupby("year").size()
             .rename("movies").reset_index())
    return Stat(table, plots.line(table, "year", "movies", "Movies per year (year in the "
                                                           "title)"))


def movies_per_genre(session: Session, year_from: int | None = None,
                     year_to: int | None = None, genres: Iterable[str] | None = None) -> Stat:
    """Movies per genre (a movie counts once for each of its genres)."""
    wanted = Movies(session).filtered_ids(None, None, year_from, year_to, genres)
    table = _frame(session, select(Genre.name.label("genre"), func.count().label("movies"))
                   .join(movie_genres, movie_genres.c.genre_id == Genre.id)
                   .where(movie_genres.c.movie_id.in_(wanted)).group_by(Genre.name))
    return _ranked(table, "genre", "movies", "Movies per genre")


# -- people -----------------------------------------------------------------------------------


def persons_by_birth_band_and_gender(session: Session, width: int = 10) -> Stat:
    """Persons per birth-year band (``width`` years) and gender."""
    people = _frame(session, select(Person.birth_year, Person.gender))
    people["band"] = _birth_band(people["birth_year"], width)
    table = (people.groupby(["band", "gender"]).size().unstack(fill_value=0)
             .reindex(columns=["F", "M"], fill_value=0))
    fig = plots.grouped_bar(table, "Persons by birth-year band and gender", "birth years",
                            "persons")
    return Stat(table.reset_index().rename_axis(columns=None), fig)


def users_by_occupation(session: Session) -> Stat:
    """Users per occupation, most common first."""
    table = _frame(session, select(User.occupation, func.count().label("users"))
                   .group_by(User.occupation))
    return _ranked(table, "occupation", "users", "Users by occupation")


def _workers_by(session: Session, column: Any, label: str) -> Stat:
    table = _frame(session, select(column.label(label), func.count().label("workers"))
                   .group_by(column))
    return _ranked(table, label, "workers", f"Workers by {label}")


def workers_by_position(session: Session) -> Stat:
    """Workers per position."""
    return _workers_by(session, Worker.position, "position")


def workers_by_category(session: Session) -> Stat:
    """Workers per category."""
    return _workers_by(session, Worker.category, "category")


def workers_by_working_hours(session: Session) -> Stat:
    """Workers per shift, normalised to ``HH-HH`` with the shift length in hours."""
    workers = _frame(session, select(Worker.working_hours))
    hours = workers["working_hours"].str.extract(WORKING_HOURS_RE).astype(int)
    workers["shift"] = hours[0].map("{:02d}".format) + "-" + hours[1].map("{:02d}".format)
    workers["hours"] = (hours[1] - hours[0]) % 24
    table = (workers.groupby(["shift", "hours"]).size().rename("workers").reset_index()
             .sort_values(["workers", "shift"], ascending=[False, True], ignore_index=True))
    return Stat(table, plots.bar(table, "shift", "workers", "Workers by working hours"))


# -- ratings ----------------------------------------------------------------------------------


def rating_distribution(session: Session) -> Stat:
    """How many ratings of each value."""
    table = _frame(session, select(Score.rating, func.count().label("ratings"))
                   .group_by(Score.rating).order_by(Score.rating))
    counts = table.set_index("rating")["ratings"]
    return Stat(table, plots.count_bars(counts, "Ratings by value", "rating (stars)",
                                        "ratings"))


def _user_movies(session: Session, user_id: int) -> pd.DataFrame:
    if session.get(User, int(user_id)) is None:
        raise NotFoundError(f"user {user_id} does not exist")
    return _frame(session, select(Score.movie_id, Score.rating, Movie.title,
                                  Movie.release_date)
                  .join(Movie, Movie.id == Score.movie_id).where(Score.user_id == int(user_id)))


def user_rating_by_year(session: Session, user_id: int) -> Stat:
    """One user's average rating per year of the movies rated (one point per year, sized by
    how many of that year's movies they rated)."""
    rated = _user_movies(session, user_id)
    rated["year"] = [display_year(t, d) for t, d in zip(rated["title"], rated["release_date"])]
    rated = rated.dropna(subset=["year"]).astype({"year": "int64"})
    table = (rated.groupby("year")["rating"].agg(["mean", "count"])
             .rename(columns={"mean": "mean_rating", "count": "ratings"}).reset_index())
    table["mean_rating"] = table["mean_rating"].round(2)
    return Stat(table, plots.points(table, "year", "mean_rating",
                                    f"User {user_id}: average rating by movie year",
                                    size="ratings", ylabel="average rating"))


def user_rating_by_genre(session: Session, user_id: int) -> Stat:
    """One user's average rating per genre of the movies rated."""
    _user_movies(session, user_id)  # raises for an unknown user
    sums = _sums(session, Genre.name, select(Genre.name.label("genre"))
                 .join(movie_genres, movie_genres.c.genre_id == Genre.id)
                 .join(Score, Score.movie_id == movie_genres.c.movie_id)
                 .where(Score.user_id == int(user_id)))
    return _mean_stat(sums, "genre", f"User {user_id}: average rating by genre",
                      overall=_mean_rating(session, user_id))


def rating_by_genre(session: Session) -> Stat:
    """Average rating per genre, over everyone."""
    sums = _sums(session, Genre.name, select(Genre.name.label("genre"))
                 .join(movie_genres, movie_genres.c.genre_id == Genre.id)
                 .join(Score, Score.movie_id == movie_genres.c.movie_id))
    return _mean_stat(sums, "genre", "Average rating by genre",
                      overall=_mean_rating(session))


def rating_by_gender(session: Session) -> Stat:
    """Average rating by the rater's gender."""
    sums = _sums(session, Person.gender, select(Person.gender)
                 .join(Score, Score.user_id == Person.id))
    return _mean_stat(sums, "gender", "Average rating by gender")


def rating_by_birth_band(session: Session, width: int = 20) -> Stat:
    """Average rating by the rater's birth-year band (``width`` years)."""
    years = _sums(session, Person.birth_year, select(Person.birth_year)
                  .join(Score, Score.user_id == Person.id))
    years["band"] = _birth_band(years["birth_year"].astype("Int64"), width)
    sums = years.groupby("band", as_index=False)[["total", "ratings"]].sum()
    return _mean_stat(sums, "band", f"Average rating by {width}-year birth band",
                      by_value=False)


def rating_by_occupation(session: Session) -> Stat:
    """Average rating by the rater's occupation."""
    sums = _sums(session, User.occupation, select(User.occupation)
                 .join(Score, Score.user_id == User.id))
    return _mean_stat(sums, "occupation", "Average rating by occupation")


def rating_by_position(session: Session) -> Stat:
    """Average rating by the rater's position, for raters who are workers."""
    sums = _sums(session, Worker.position, select(Worker.position)
                 .join(Score, Score.user_id == Worker.id))
    return _mean_stat(sums, "position", "Average rating by worker position")
