"""Find, fetch, load, validate and save the five course CSVs; make a small synthetic dataset.

The CSVs keep their original (Spanish file, mixed-case column) names at this boundary only:
:func:`load` returns tables with English snake_case columns, and :func:`save` writes the
original format back, so ``load -> save -> load`` gives identical tables.

Validation never drops a row silently. Each rejected row lands in a report with the table,
CSV line, id, field, offending value and reason; warnings (rows kept with a caveat, such as the
movie with no release date) are reported too, with severity ``warning``.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from recsys import rules
from recsys.data import csvfile
from recsys.errors import DataError, FetchError
from recsys.rules import MIN_BIRTH_YEAR, WORKING_HOURS_RE, ZIP_RE

#: The 19 MovieLens genres, in the column order of peliculas.csv.
GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)

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

#: Where ``recsys data fetch`` gets MovieLens 100K, and the MD5 GroupLens publishes beside it
#: (ml-100k.zip.md5). GroupLens publishes no SHA-256, so the MD5 is what can be pinned.
ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
ML100K_MD5 = "0e33842e24a9c977be4e0107933c0723"


# --------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """The five clean tables, with English column names and explicit dtypes.

    Attributes:
        persons: id, full_name, birth_year, gender (M/F), zip_code (string).
        users: id (a person), occupation, active_since (datetime).
        workers: id (a person), position, category, working_hours ("9 - 18"), start_date.
        movies: id, title, release_date (datetime, NaT when unknown), imdb_url (or None),
            genres (list of genre names).
        scores: id, user_id, movie_id, rating (1..5), rated_at (datetime).
    """

    persons: pd.DataFrame
    users: pd.DataFrame
    workers: pd.DataFrame
    movies: pd.DataFrame
    scores: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by logical name, in dependency order (parents first)."""
        return {name: getattr(self, name) for name in FILES}

    def counts(self) -> dict[str, int]:
        """Row count of each table."""
        return {name: len(table) for name, table in self.tables().items()}


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
        _atomic_write_text(target, self.report.to_csv(index=False))
        return target


class _Rejections:
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

    def lines(self, table: str) -> set[int]:
        """CSV lines of ``table`` that were rejected so far."""
        return {int(r["line"]) for r in self.rows
                if r["table"] == table and r["severity"] == "rejected"}

    def frame(self) -> pd.DataFrame:
        report = pd.DataFrame(self.rows, columns=REPORT_COLUMNS)
        return report.sort_values(["table", "line", "field"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Locating and fetching
# --------------------------------------------------------------------------------------------


def missing_files(data_dir: str | Path) -> list[str]:
    """Names of the five CSVs that are not in ``data_dir``."""
    data_dir = Path(data_dir)
    return [name for name in FILES.values() if not (data_dir / name).is_file()]


def fetch(data_dir: str | Path, url: str = ML100K_URL, md5: str = ML100K_MD5,
          timeout: float = 5.0, seed: int = 42) -> list[Path]:
    """Obtain the five CSVs in ``data_dir`` from MovieLens 100K, unless they are already there.

    Downloads the GroupLens archive, checks its published MD5, and converts it into the
    five-table schema with :func:`convert_ml100k`. Offline it fails fast (``timeout`` seconds
    per network operation) with a message that says where to put the files instead.

    Args:
        data_dir: destination folder.
        url: archive location (pinned to GroupLens by default).
        md5: expected MD5 of the archive.
        timeout: seconds allowed per network operation.
        seed: seed for the synthetic course additions (names, workers).

    Returns:
        Paths of the five CSVs.
    """
    data_dir = Path(data_dir)
    if not missing_files(data_dir):
        return [data_dir / name for name in FILES.values()]
    data_dir.mkdir(parents=True, exist_ok=True)
    how_to = (
        f"Put the five course CSVs ({', '.join(FILES.values())}) in {data_dir.resolve()} "
        "or point RECSYS_DATA_DIR at the folder that holds them (see datasets/README.md)."
    )
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "ml-100k.zip"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, \
                    archive.open("wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, socket.timeout, OSError) as exc:
            raise FetchError(f"Could not download {url} ({exc}). {how_to}") from exc
        digest = hashlib.md5(archive.read_bytes()).hexdigest()
        if digest != md5:
            raise FetchError(f"{url} has MD5 {digest}, expected {md5}. {how_to}")
        return convert_ml100k(archive, data_dir, seed=seed)


def convert_ml100k(archive: str | Path, data_dir: str | Path, seed: int = 42,
                   n_workers: int = 15) -> list[Path]:
    """Convert the GroupLens ``ml-100k.zip`` into the five course CSVs.

    MovieLens gives users (age, gender, occupation, zip), items and ratings. The course added
    person names and a workers table; here those are synthesised deterministically from
    ``seed``: names from a fixed list, and ``n_workers`` users (occupation set to ``ITBA``, as
    in the course data) with a position, category, working hours and start date. Birth year is
    1998 minus the age (the data were collected in 1997-98); "Active Since" is the user's
    first rating.

    Returns:
        Paths of the five CSVs written.
    """
    data_dir = Path(data_dir)
    with zipfile.ZipFile(archive) as zf:
        def read(member: str, names: list[str]) -> pd.DataFrame:
            raw = zf.read(f"ml-100k/{member}").decode("latin-1")
            return pd.read_csv(io.StringIO(raw), sep="|" if member != "u.data" else "\t",
                               header=None, names=names, dtype=str, keep_default_na=False)

        users = read("u.user", ["id", "age", "gender", "occupation", "zip"])
        items = read("u.item", ["id", "title", "release", "video", "url", *GENRES])
        ratings = read("u.data", ["user_id", "movie_id", "rating", "ts"])
    rng = np.random.default_rng(seed)
    first = ["Ana", "Bruno", "Carla", "Diego", "Elena", "Facundo", "Gina", "Hugo", "Irene",
             "Juan", "Karen", "Lucas", "Marta", "Nico", "Olga", "Pablo", "Rosa", "Santiago",
             "Tina", "Victor"]
    last = ["Alvarez", "Benitez", "Castro", "Dominguez", "Estevez", "Fernandez", "Gomez",
            "Herrera", "Ibarra", "Juarez", "Lopez", "Molina", "Navarro", "Ortiz", "Perez",
            "Quiroga", "Romero", "Sosa", "Torres", "Vega"]
    ratings["when"] = pd.to_datetime(ratings["ts"].astype(int), unit="s")
    first_seen = ratings.groupby(ratings["user_id"].astype(int))["when"].min()
    user_ids = users["id"].astype(int)
    persons = pd.DataFrame({
        "id": user_ids,
        "Full Name": [f"{rng.choice(first)} {rng.choice(last)}" for _ in range(len(users))],
        "year of birth": 1998 - users["age"].astype(int),
        "Gender": users["gender"],
        "Zip Code": users["zip"],
    })
    worker_ids = np.sort(rng.choice(user_ids.to_numpy(), size=n_workers, replace=False))
    occupation = users["occupation"].where(~user_ids.isin(worker_ids), "ITBA")
    usuarios = pd.DataFrame({
        "id": user_ids, "Occupation": occupation,
        "Active Since": user_ids.map(first_seen).dt.strftime(DATETIME_FORMAT),
    })
    positions = ["Analyst", "Analyst", "Analyst", "IT", "CTO", "CFO", "CEO", "IT Manager"]
    hours = ["9 - 18", "7 - 16", "8-17", "20 - 04"]
    trabajadores = pd.DataFrame({
        "id": worker_ids,
        "Position": rng.choice(positions, size=n_workers),
        "Category": rng.choice(["A", "B", "C"], size=n_workers),
        "Working Hours": rng.choice(hours, size=n_workers),
        "Start Date": [first_seen[w].strftime(DATE_FORMAT) for w in worker_ids],
    })
    peliculas = pd.DataFrame({"id": items["id"], "Name": items["title"],
                              "Release Date": items["release"], "IMDB URL": items["url"]})
    for genre in GENRES:
        peliculas[genre] = items[genre]
    scores = pd.DataFrame({
        "": range(len(ratings)), "user_id": ratings["user_id"], "movie_id": ratings["movie_id"],
        "rating": ratings["rating"], "Date": ratings["when"].dt.strftime(DATETIME_FORMAT),
    })
    frames = {"persons": persons, "users": usuarios, "workers": trabajadores,
              "movies": peliculas, "scores": scores}
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in frames.items():
        path = data_dir / FILES[name]
        _atomic_write_text(path, frame.to_csv(index=False))
        paths.append(path)
    _atomic_write_text(data_dir / PROVENANCE_FILE, json.dumps(FETCHED_PROVENANCE, indent=2))
    return paths


#: Beside CSVs written by ``recsys data fetch``: where they come from, what is invented.
PROVENANCE_FILE = "PROVENANCE.json"
FETCHED_PROVENANCE = {
    "source": "MovieLens 100K (GroupLens Research), downloaded and converted by "
              "`recsys data fetch`",
    "synthesised": ["person names (personas.csv, Full Name)",
                    "the workers table (trabajadores.csv) and their occupation ITBA",
                    "birth years (1998 minus the MovieLens age)"],
}


def provenance(data_dir: str | Path) -> str:
    """One line saying where the CSVs in ``data_dir`` come from and what is synthesised."""
    path = Path(data_dir) / PROVENANCE_FILE
    if path.is_file():
        try:
            info = json.loads(path.read_text())
            return (f"{info['source']}; synthesised, not real: "
                    f"{', '.join(info['synthesised'])}")
        except (ValueError, KeyError, TypeError):
            pass
    return "the course CSVs (MovieLens 100K plus the course's additions)"


# --------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------


def _read_table(path: Path, table: str, rej: "_Rejections", label: str | None = None,
                optional_id: bool = False) -> pd.DataFrame:
    """Read one CSV as strings, check its columns, add ``_line`` and ``_raw_id``; lines that
    cannot be read at all (wrong field count, unclosed quote, bytes that are not UTF-8) go to
    the report with their line number, and the readable rows are kept."""
    label = label or table
    block = csvfile.read_lines(path)
    raw = block.rows
    # a file written by pandas names the unnamed index column "Unnamed: 0"
    raw.columns = ["" if str(c).startswith("Unnamed: 0") else c for c in raw.columns]
    if optional_id and "" not in raw.columns:  # the unnamed score id column is optional
        raw.insert(0, "", [str(i) for i in range(len(raw))])
    required = list(COLUMNS[table]) + (list(GENRES) if table == "movies" else [])
    absent = [c for c in required if c not in raw.columns]
    if absent:
        shown = ", ".join(repr(c) for c in absent)
        found = [c for c in raw.columns if c != csvfile.LINE]
        raise DataError(f"{path} lacks required column(s) {shown}; it has {found}")
    raw = raw.rename(columns=COLUMNS[table])
    raw["_raw_id"] = raw["id"]
    for bad in block.bad:
        rej.rows.append({"table": label, "line": bad.line, "id": "", "field": "(line)",
                         "value": bad.text, "reason": bad.reason, "severity": "rejected"})
    raw.attrs["unreadable"] = len(block.bad)
    return raw


def _read_raw(data_dir: Path, table: str, rej: "_Rejections") -> pd.DataFrame:
    """One of the five course CSVs (see :func:`_read_table`)."""
    path = data_dir / FILES[table]
    if not path.is_file():
        raise DataError(f"{path} is missing: expected the five course CSVs in {data_dir} "
                        "(run `recsys data fetch`, or set RECSYS_DATA_DIR)")
    return _read_table(path, table, rej)


def _to_int(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole numbers written as digits (nullable Int64; anything else <NA>), and a mask of
    numbers too long to be in any accepted range."""
    text = raw.astype(str).str.strip()
    whole = text.str.match(rules.INTEGER_RE.pattern)
    huge = whole & (text.str.lstrip("+-").str.len() > 18)
    values = pd.to_numeric(text.where(whole & ~huge), errors="coerce").astype("Int64")
    return values, huge


def _check_int(rej: _Rejections, table: str, df: pd.DataFrame, col: str,
               lo: int = rules.MIN_ID, hi: int = rules.MAX_ID) -> pd.Series:
    """Whole numbers in ``lo..hi`` (``196.0``, ``3.5`` and ``1e3`` are not integers)."""
    values, huge = _to_int(df[col])
    rej.add(table, df, values.isna() & ~huge, col, f"{col} is not an integer")
    out = huge | (values.notna() & ((values < lo) | (values > hi)))
    rej.add(table, df, out, col, f"{col} must be between {lo} and {hi}")
    return values


def _check_text(rej: _Rejections, table: str, df: pd.DataFrame, col: str) -> pd.Series:
    values = df[col].str.strip()
    rej.add(table, df, values == "", col, f"{col} is empty")
    rej.add(table, df, values.str.contains(rules.CONTROL_CHARS_RE.pattern, regex=True), col,
            f"{col} {rules.CONTROL_CHARS_MESSAGE}")
    return values


def _check_datetime(rej: _Rejections, table: str, df: pd.DataFrame, col: str, fmt: str,
                    allow_empty: bool = False, instant: bool = False) -> pd.Series:
    """Dates in ``fmt``. ``instant``: a moment read as UTC, within the accepted range
    (:data:`recsys.rules.EARLIEST_TIMESTAMP` .. one day from now)."""
    text = df[col].str.strip()
    values = pd.to_datetime(text, format=fmt, errors="coerce")
    empty = text == ""
    if allow_empty:
        rej.add(table, df, empty, col, f"{col} is unknown (no date given): kept with the date "
                "unknown", severity="warning")
        bad = values.isna() & ~empty
    else:
        bad = values.isna()
    rej.add(table, df, bad, col, f"{col} is not a date in the format {fmt}")
    if instant:
        earliest = pd.Timestamp(rules.EARLIEST_TIMESTAMP).tz_localize(None)
        latest = pd.Timestamp(rules.latest_timestamp()).tz_localize(None)
        out = values.notna() & ((values < earliest) | (values > latest))
        rej.add(table, df, out, col, rules.timestamp_range_message(col))
    return values


def _check_unique_id(rej: _Rejections, table: str, df: pd.DataFrame,
                     ids: pd.Series) -> None:
    dup = ids.notna() & ids.duplicated(keep="first")
    first_line = df["_line"].groupby(ids).transform("min")
    rej.add(table, df, dup, "id",
            lambda bad: "duplicate id " + bad["_raw_id"].astype(str)
            + " (first at line " + first_line[bad.index].astype(str) + ")")


def _keep(rej: _Rejections, table: str, df: pd.DataFrame) -> pd.DataFrame:
    return df[~df["_line"].isin(rej.lines(table))]


def load(data_dir: str | Path, report_dir: str | Path | None = None,
         verbose: bool = False) -> LoadResult:
    """Read and validate the five CSVs.

    Checks, per table: required columns (a missing one is fatal: :class:`DataError`), types
    (integers, dates in their documented formats, 0/1 genre flags), ranges (rating 1..5, birth
    year from 1900 to this year, gender M/F, working hours ``H - H`` with hours 0..24, zip code
    of 2-10 letters/digits), duplicate ids and duplicate (user, movie) ratings (the first is
    kept), and referential integrity (users and workers are persons, scores point to known users
    and movies; a rejected parent rejects its children, with that reason). The movie with no
    release date is kept with ``release_date`` NaT and a warning.

    Args:
        data_dir: folder with the five CSVs.
        report_dir: if given, the report CSV is written there (``load_report.csv``).
        verbose: print the counts before and after, and the reasons.

    Returns:
        A :class:`LoadResult` with the clean dataset, the report and the summary.
    """
    data_dir = Path(data_dir)
    rej = _Rejections()
    raw = {table: _read_raw(data_dir, table, rej) for table in FILES}
    current_year = date.today().year

    # persons
    t, df = "persons", raw["persons"]
    ids = _check_int(rej, t, df, "id", lo=1)
    _check_unique_id(rej, t, df, ids)
    name = _check_text(rej, t, df, "full_name")
    birth = _check_int(rej, t, df, "birth_year", lo=MIN_BIRTH_YEAR, hi=current_year)
    gender = df["gender"].str.strip().str.upper()
    rej.add(t, df, ~gender.isin(["M", "F"]), "gender", "gender must be M or F")
    zips = df["zip_code"].str.strip()
    rej.add(t, df, ~zips.str.match(ZIP_RE), "zip_code",
            "zip_code must be 2-10 letters, digits, spaces or dashes")
    persons = pd.DataFrame({"id": ids, "full_name": name, "birth_year": birth,
                            "gender": gender, "zip_code": zips, "_line": df["_line"]})
    persons = _keep(rej, t, persons)
    person_ids = set(persons["id"].astype(int))

    # users and workers (both must be persons)
    t, df = "users", raw["users"]
    ids = _check_int(rej, t, df, "id", lo=1)
    _check_unique_id(rej, t, df, ids)
    occupation = _check_text(rej, t, df, "occupation")
    since = _check_datetime(rej, t, df, "active_since", DATETIME_FORMAT, instant=True)
    rej.add(t, df, ids.notna() & ~ids.isin(person_ids), "id",
            lambda bad: "user " + bad["_raw_id"] + " is not a known person")
    users = _keep(rej, t, pd.DataFrame({"id": ids, "occupation": occupation,
                                        "active_since": since, "_line": df["_line"]}))

    t, df = "workers", raw["workers"]
    ids = _check_int(rej, t, df, "id", lo=1)
    _check_unique_id(rej, t, df, ids)
    position = _check_text(rej, t, df, "position")
    category = _check_text(rej, t, df, "category")
    hours = df["working_hours"].str.strip()
    parts = hours.str.extract(WORKING_HOURS_RE).apply(pd.to_numeric, errors="coerce")
    bad_hours = parts.isna().any(axis=1) | (parts > 24).any(axis=1)
    rej.add(t, df, bad_hours, "working_hours",
            "working_hours must look like '9 - 18' with hours from 0 to 24")
    start = _check_datetime(rej, t, df, "start_date", DATE_FORMAT)
    rej.add(t, df, ids.notna() & ~ids.isin(person_ids), "id",
            lambda bad: "worker " + bad["_raw_id"] + " is not a known person")
    workers = _keep(rej, t, pd.DataFrame({"id": ids, "position": position,
                                          "category": category, "working_hours": hours,
                                          "start_date": start, "_line": df["_line"]}))

    # movies
    t, df = "movies", raw["movies"]
    ids = _check_int(rej, t, df, "id", lo=1)
    _check_unique_id(rej, t, df, ids)
    title = _check_text(rej, t, df, "title")
    release = _check_datetime(rej, t, df, "release_date", RELEASE_DATE_FORMAT, allow_empty=True)
    flags = pd.DataFrame(index=df.index)
    for genre in GENRES:
        text = df[genre].str.strip()
        rej.add(t, df, ~text.isin(["0", "1"]), genre, f"genre flag {genre} must be 0 or 1")
        flags[genre] = text == "1"
    genre_names = np.array(GENRES, dtype=object)
    genres = [list(genre_names[row]) for row in flags.to_numpy()]
    url = df["imdb_url"].str.strip()
    movies = _keep(rej, t, pd.DataFrame({
        "id": ids, "title": title, "release_date": release,
        "imdb_url": url.where(url != "", None), "genres": genres, "_line": df["_line"],
    }))

    # scores
    scores = _validate_scores(rej, raw["scores"], set(users["id"].astype(int)),
                              set(movies["id"].astype(int)))

    dataset = _finalise(persons, users, workers, movies, scores)
    report = rej.frame()
    read_counts = {table: len(frame) + frame.attrs.get("unreadable", 0)
                   for table, frame in raw.items()}
    kept = dataset.counts()
    summary = pd.DataFrame({
        "table": list(FILES),
        "rows_read": [read_counts[t] for t in FILES],
        "rejected": [read_counts[t] - kept[t] for t in FILES],
        "kept": [kept[t] for t in FILES],
        "warnings": [int(((report["table"] == t) & (report["severity"] == "warning")).sum())
                     for t in FILES],
    })
    result = LoadResult(dataset=dataset, report=report, summary=summary)
    if report_dir is not None:
        result.write_report(report_dir)
    if verbose:
        print(summary.to_string(index=False))
        if not report.empty:
            print(result.reasons().to_string(index=False))
    return result


def _validate_scores(rej: _Rejections, df: pd.DataFrame, known_users: set[int],
                     known_movies: set[int], t: str = "scores") -> pd.DataFrame:
    """Validate raw scores rows (types, range, references, duplicate pairs)."""
    ids = _check_int(rej, t, df, "id", lo=0)  # scores.csv numbers its rows from 0
    _check_unique_id(rej, t, df, ids)
    user_id = _check_int(rej, t, df, "user_id", lo=1)
    movie_id = _check_int(rej, t, df, "movie_id", lo=1)
    rating = _check_int(rej, t, df, "rating", lo=rules.RATING_MIN, hi=rules.RATING_MAX)
    rated_at = _check_datetime(rej, t, df, "rated_at", DATETIME_FORMAT, instant=True)
    rej.add(t, df, user_id.notna() & ~user_id.isin(known_users), "user_id",
            lambda bad: "user_id " + bad["user_id"].str.strip() + " is not a known user")
    rej.add(t, df, movie_id.notna() & ~movie_id.isin(known_movies), "movie_id",
            lambda bad: "movie_id " + bad["movie_id"].str.strip() + " is not a known movie")
    pair = pd.DataFrame({"u": user_id, "m": movie_id})
    dup_pair = pair.notna().all(axis=1) & pair.duplicated(keep="first")
    first_line = df["_line"].groupby([user_id, movie_id]).transform("min")
    rej.add(t, df, dup_pair, "movie_id",
            lambda bad: "duplicate rating of user " + bad["user_id"].str.strip()
            + " for movie " + bad["movie_id"].str.strip()
            + " (first at line " + first_line[bad.index].astype(str) + ")")
    return _keep(rej, t, pd.DataFrame({"id": ids, "user_id": user_id, "movie_id": movie_id,
                                       "rating": rating, "rated_at": rated_at,
                                       "_line": df["_line"]}))


def load_scores(path: str | Path, dataset: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and validate a CSV shaped like scores.csv against ``dataset``'s users and movies.

    Used for explicit train/test files (``recsys evaluate --train ... --test ...``).

    Returns:
        (clean scores with the same columns and dtypes as ``Dataset.scores``, report).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    rej = _Rejections()
    raw = _read_table(path, "scores", rej, label=path.name, optional_id=True)
    scores = _validate_scores(rej, raw, set(dataset.users["id"]), set(dataset.movies["id"]),
                              t=path.name)
    scores = scores.drop(columns=["_line"]).astype({"id": "int64", "user_id": "int64",
                                                    "movie_id": "int64", "rating": "int64"})
    scores["rated_at"] = scores["rated_at"].astype("datetime64[ns]")
    return scores.reset_index(drop=True), rej.frame()


def _finalise(persons: pd.DataFrame, users: pd.DataFrame, workers: pd.DataFrame,
              movies: pd.DataFrame, scores: pd.DataFrame) -> Dataset:
    """Drop helper columns and give each table its final dtypes and row order."""
    def tidy(frame: pd.DataFrame, ints: Iterable[str]) -> pd.DataFrame:
        frame = frame.drop(columns=[c for c in ("_line",) if c in frame.columns]).copy()
        for col in ints:
            frame[col] = frame[col].astype("int64")
        return frame.sort_values("id", kind="stable").reset_index(drop=True)

    persons = tidy(persons, ["id", "birth_year"])
    users = tidy(users, ["id"])
    workers = tidy(workers, ["id"])
    movies = tidy(movies, ["id"])
    scores = tidy(scores, ["id", "user_id", "movie_id", "rating"])
    for frame, cols in ((persons, ["full_name", "gender", "zip_code"]),
                        (users, ["occupation"]),
                        (workers, ["position", "category", "working_hours"]),
                        (movies, ["title"])):
        for col in cols:
            frame[col] = frame[col].astype(object)
    movies["imdb_url"] = movies["imdb_url"].astype(object).where(movies["imdb_url"].notna(), None)
    for frame, col in ((users, "active_since"), (workers, "start_date"),
                       (movies, "release_date"), (scores, "rated_at")):
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    return Dataset(persons=persons, users=users, workers=workers, movies=movies, scores=scores)


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------


def to_csv_frames(dataset: Dataset) -> dict[str, pd.DataFrame]:
    """The dataset in the original CSV layout (column names, formats, genre flags)."""
    out: dict[str, pd.DataFrame] = {}
    for table, frame in dataset.tables().items():
        reverse = {eng: orig for orig, eng in COLUMNS[table].items()}
        frame = frame.copy()
        if table == "users":
            frame["active_since"] = frame["active_since"].dt.strftime(DATETIME_FORMAT)
        elif table == "workers":
            frame["start_date"] = frame["start_date"].dt.strftime(DATE_FORMAT)
        elif table == "movies":
            frame["release_date"] = frame["release_date"].dt.strftime(RELEASE_DATE_FORMAT)
            frame["release_date"] = frame["release_date"].fillna("")
            frame["imdb_url"] = frame["imdb_url"].fillna("")
            for genre in GENRES:
                frame[genre] = frame["genres"].map(lambda gs, g=genre: int(g in gs))
            frame = frame.drop(columns=["genres"])
        elif table == "scores":
            frame["rated_at"] = frame["rated_at"].dt.strftime(DATETIME_FORMAT)
        out[table] = frame.rename(columns=reverse)
    return out


def save(dataset: Dataset, data_dir: str | Path) -> list[Path]:
    """Write the dataset as the five course CSVs (atomically, file by file).

    Returns:
        Paths written.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for table, frame in to_csv_frames(dataset).items():
        path = data_dir / FILES[table]
        _atomic_write_text(path, frame.to_csv(index=False))
        paths.append(path)
    return paths


def _atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp",
                                     encoding="utf-8", newline="") as tmp:
        tmp.write(text)
    Path(tmp.name).replace(path)


# --------------------------------------------------------------------------------------------
# Synthetic data
# --------------------------------------------------------------------------------------------


def synthetic(n_users: int = 60, n_movies: int = 120, ratings_per_user: int = 25,
              n_workers: int = 5, seed: int = 0) -> Dataset:
    """A small, valid dataset with the course schema and a planted preference pattern.

    Each user has a favourite genre among the first six "real" genres. Users watch movies of
    their favourite genre more often (implicit signal) and rate them higher (explicit signal),
    so a model that learns user-genre affinity beats a user+item bias baseline here.

    Args:
        n_users: number of users (all are persons).
        n_movies: number of movies.
        ratings_per_user: ratings per user (capped at ``n_movies``).
        n_workers: how many users are also workers.
        seed: random seed; the same seed gives the same dataset.

    Returns:
        A :class:`Dataset`.
    """
    rng = np.random.default_rng(seed)
    user_ids = np.arange(1, n_users + 1)
    persons = pd.DataFrame({
        "id": user_ids,
        "full_name": [f"Person {i}" for i in user_ids],
        "birth_year": rng.integers(1930, 2000, n_users),
        "gender": rng.choice(["M", "F"], n_users),
        "zip_code": [f"{rng.integers(10000, 99999)}" for _ in user_ids],
    })
    base = pd.Timestamp("1997-09-20")
    occupations = np.array(["student", "engineer", "educator", "artist", "other"])
    users = pd.DataFrame({
        "id": user_ids,
        "occupation": rng.choice(occupations, n_users),
        "active_since": base + pd.to_timedelta(rng.integers(0, 200, n_users), unit="D"),
    })
    worker_ids = np.sort(rng.choice(user_ids, size=min(n_workers, n_users), replace=False))
    users.loc[users["id"].isin(worker_ids), "occupation"] = "ITBA"
    workers = pd.DataFrame({
        "id": worker_ids,
        "position": rng.choice(["Analyst", "IT", "CEO"], len(worker_ids)),
        "category": rng.choice(["A", "B", "C"], len(worker_ids)),
        "working_hours": rng.choice(["9 - 18", "8-17", "20 - 04"], len(worker_ids)),
        "start_date": base + pd.to_timedelta(rng.integers(0, 200, len(worker_ids)), unit="D"),
    })
    core = list(GENRES[1:7])  # Action .. Comedy
    movie_ids = np.arange(1, n_movies + 1)
    movie_genres = []
    for _ in movie_ids:
        k = int(rng.integers(1, 3))
        movie_genres.append(sorted(rng.choice(core, size=k, replace=False).tolist(),
                                   key=GENRES.index))
    years = rng.integers(1930, 1998, n_movies)
    movies = pd.DataFrame({
        "id": movie_ids,
        "title": [f"Movie {i} ({y})" for i, y in zip(movie_ids, years)],
        "release_date": pd.to_datetime([f"{y}-01-01" for y in years]),
        "imdb_url": [f"http://example.org/movie/{i}" for i in movie_ids],
        "genres": movie_genres,
    })
    quality = rng.normal(0.0, 0.35, n_movies)
    favourite = rng.choice(core, n_users)
    rows = []
    per_user = min(ratings_per_user, n_movies)
    for u, fav in zip(user_ids, favourite):
        liked = np.array([fav in g for g in movie_genres])
        weights = np.where(liked, 4.0, 1.0)
        chosen = rng.choice(movie_ids, size=per_user, replace=False, p=weights / weights.sum())
        for m in chosen:
            mean = 3.0 + quality[m - 1] + (1.2 if liked[m - 1] else -0.6)
            rating = int(np.clip(np.rint(mean + rng.normal(0, 0.5)), 1, 5))
            rows.append((u, m, rating))
    ratings = np.array(rows)
    scores = pd.DataFrame({
        "id": np.arange(len(ratings)),
        "user_id": ratings[:, 0],
        "movie_id": ratings[:, 1],
        "rating": ratings[:, 2],
        "rated_at": base + pd.to_timedelta(rng.integers(0, 200 * 86400, len(ratings)), unit="s"),
    })
    return _finalise(persons, users, workers, movies, scores)
