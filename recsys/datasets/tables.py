"""The five tables: names, columns and formats of the course CSVs, and the containers the
rest of the system passes around (:class:`Dataset`, :class:`LoadResult`).

The CSVs keep their original (Spanish file, mixed-case column) names at this boundary only:
loading returns tables with English snake_case columns, and saving writes the original format
back, so ``load -> save -> load`` gives identical tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from recsys.datasets.files import atomic_write_text
from recsys.datasets.info import COURSE, DatasetInfo

#: The 19 MovieLens genres, in the column order of peliculas.csv.
GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)

#: Genres some datasets have beyond the 19 (MovieLens 10M and later: IMAX); peliculas.csv
#: may carry a 0/1 column for each, after the 19.
EXTRA_GENRES: tuple[str, ...] = ("IMAX",)

#: Logical table name -> CSV file name.
FILES: dict[str, str] = {
    "persons": "personas.csv",
    "users": "usuarios.csv",
    "workers": "trabajadores.csv",
    "movies": "peliculas.csv",
    "scores": "scores.csv",
}

#: Original CSV column -> English column, per table (genre flags handled apart).
COLUMNS: dict[str, dict[str, str]] = {
    "persons": {"id": "id", "Full Name": "full_name", "year of birth": "birth_year",
                "Gender": "gender", "Zip Code": "zip_code"},
    "users": {"id": "id", "Occupation": "occupation", "Active Since": "active_since"},
    "workers": {"id": "id", "Position": "position", "Category": "category",
                "Working Hours": "working_hours", "Start Date": "start_date"},
    "movies": {"id": "id", "Name": "title", "Release Date": "release_date",
               "IMDB URL": "imdb_url"},
    "scores": {"": "id", "user_id": "user_id", "movie_id": "movie_id", "rating": "rating",
               "Date": "rated_at"},
}

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"
RELEASE_DATE_FORMAT = "%d-%b-%Y"

REPORT_COLUMNS = ["table", "line", "id", "field", "value", "reason", "severity"]


@dataclass
class Dataset:
    """The five clean tables, with English column names and explicit dtypes, and what the
    dataset is (:class:`~recsys.datasets.info.DatasetInfo`: its rating scale, which optional
    parts it has).

    Attributes:
        persons: id, full_name, birth_year (nullable Int64), gender (M/F), zip_code (string);
            name and demographics are None where the dataset has none.
        users: id (a person), occupation (None where unknown), active_since (datetime).
        workers: id (a person), position, category, working_hours ("9 - 18"), start_date.
        movies: id, title, release_date (datetime, NaT when unknown), imdb_url (or None),
            genres (list of genre names).
        scores: id, user_id, movie_id, rating (on ``info.rating_scale``: int64 for whole
            stars, float64 for half stars), rated_at (datetime).
        info: the dataset's description (the course data when not given).
    """

    persons: pd.DataFrame
    users: pd.DataFrame
    workers: pd.DataFrame
    movies: pd.DataFrame
    scores: pd.DataFrame
    info: DatasetInfo = COURSE

    def genre_names(self) -> list[str]:
        """The 19 course genres, then any extra genre some movie has (e.g. IMAX)."""
        present = set().union(*self.movies["genres"]) if len(self.movies) else set()
        return list(GENRES) + [g for g in EXTRA_GENRES if g in present]

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by logical name, in dependency order (parents first)."""
        return {name: getattr(self, name) for name in FILES}

    def counts(self) -> dict[str, int]:
        """Row count of each table."""
        return {name: len(table) for name, table in self.tables().items()}

    def most_rated_movie(self) -> tuple[int, str]:
        """The id and title of the movie with the most ratings (the smallest id on a tie)."""
        counts = self.scores.groupby("movie_id").size()
        movie_id = int(counts[counts == counts.max()].index.min())
        return movie_id, str(self.movies.set_index("id").at[movie_id, "title"])

    def mean_ratings(self, min_ratings: int = 1) -> pd.Series:
        """Each movie's mean rating (by movie id), for movies with at least ``min_ratings``
        ratings."""
        grouped = self.scores.groupby("movie_id")["rating"]
        means = grouped.mean()
        return means[grouped.size() >= min_ratings].rename("mean rating")

    def unused_user_id(self) -> int:
        """An id no user has: someone the data do not know yet."""
        return int(self.users["id"].max()) + 1 if len(self.users) else 1


@dataclass
class LoadResult:
    """What :func:`load` returns: the clean data and an account of everything it set aside.

    Attributes:
        dataset: the validated tables.
        report: one row per problem found (``REPORT_COLUMNS``); severity ``rejected`` means
            the row is not in ``dataset``, ``warning`` means it is, with the caveat given.
        summary: per table, rows read, rejected and kept (the counts before and after).
    """

    dataset: Dataset
    report: pd.DataFrame
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def rejected(self) -> pd.DataFrame:
        """Report rows of rejected data only."""
        return self.report[self.report["severity"] == "rejected"]

    @property
    def warnings(self) -> int:
        """How many report rows are warnings (rows kept with a caveat)."""
        return int((self.report["severity"] != "rejected").sum()) if len(self.report) else 0

    def reasons(self) -> pd.DataFrame:
        """Counts of report rows by table, severity and reason (the summary table)."""
        if self.report.empty:
            return pd.DataFrame(columns=["table", "severity", "reason", "rows"])
        generic = self.report["reason"].str.replace(r"\d+", "N", regex=True)
        return (
            self.report.assign(reason=generic)
            .groupby(["table", "severity", "reason"], as_index=False)
            .size()
            .rename(columns={"size": "rows"})
        )

    def write_report(self, directory: str | Path) -> Path:
        """Write the report CSV (``load_report.csv``) atomically and return its path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / "load_report.csv"
        atomic_write_text(target, self.report.to_csv(index=False))
        return target


class Rejections:
    """Collects report rows while a table is validated."""

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []

    def add(self, table: str, frame: pd.DataFrame, mask: pd.Series, fieldname: str,
            reason: Callable[[pd.DataFrame], pd.Series] | str,
            severity: str = "rejected") -> None:
        """Record every row of ``frame`` where ``mask`` holds."""
        bad = frame[mask.fillna(False).astype(bool)]
        if bad.empty:
            return
        reasons = reason(bad) if callable(reason) else pd.Series(reason, index=bad.index)
        raw_field = bad[fieldname] if fieldname in bad.columns else pd.Series("", index=bad.index)
        for idx in bad.index:
            self.rows.append({
                "table": table,
                "line": int(bad.at[idx, "_line"]),
                "id": str(bad.at[idx, "_raw_id"]),
                "field": fieldname,
                "value": str(raw_field.at[idx]),
                "reason": str(reasons.at[idx]),
                "severity": severity,
            })

    def lines(self, table: str, since: int = 0) -> set[int]:
        """CSV lines of ``table`` (from line ``since`` on) that were rejected so far."""
        found = (int(str(r["line"])) for r in self.rows
                 if r["table"] == table and r["severity"] == "rejected")
        return {line for line in found if line >= since}

    def frame(self) -> pd.DataFrame:
        report = pd.DataFrame(self.rows, columns=REPORT_COLUMNS)
        return report.sort_values(["table", "line", "field"], kind="stable").reset_index(drop=True)


def finalise(persons: pd.DataFrame, users: pd.DataFrame, workers: pd.DataFrame,
             movies: pd.DataFrame, scores: pd.DataFrame, info: DatasetInfo = COURSE) -> Dataset:
    """Drop helper columns and give each table its final dtypes and row order."""
    def tidy(frame: pd.DataFrame, ints: Iterable[str]) -> pd.DataFrame:
        frame = frame.drop(columns=[c for c in ("_line",) if c in frame.columns]).copy()
        for col in ints:
            frame[col] = frame[col].astype("int64")
        return frame.sort_values("id", kind="stable").reset_index(drop=True)

    persons = tidy(persons, ["id"])
    persons["birth_year"] = persons["birth_year"].astype(
        "int64" if persons["birth_year"].notna().all() else "Int64")
    users = tidy(users, ["id"])
    workers = tidy(workers, ["id"])
    movies = tidy(movies, ["id"])
    scores = tidy(scores, ["id", "user_id", "movie_id"])
    scores["rating"] = scores["rating"].astype(
        "int64" if info.rating_scale.whole else "float64")
    for frame, cols in ((persons, ["full_name", "gender", "zip_code"]),
                        (users, ["occupation"]),
                        (workers, ["position", "category", "working_hours"]),
                        (movies, ["title"])):
        for col in cols:
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    movies["imdb_url"] = movies["imdb_url"].astype(object).where(movies["imdb_url"].notna(), None)
    for frame, col in ((users, "active_since"), (workers, "start_date"),
                       (movies, "release_date"), (scores, "rated_at")):
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    return Dataset(persons=persons, users=users, workers=workers, movies=movies, scores=scores,
                   info=info)
