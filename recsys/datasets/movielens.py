"""The official MovieLens archives, and converting each into the five CSVs.

``recsys data fetch --dataset NAME`` downloads one of :data:`ARCHIVES` (MD5 pinned to what
GroupLens publishes beside it) and converts it here. The formats differ:

- **ml-100k**: ``u.user`` / ``u.item`` / ``u.data``, ``|`` and tab separated, Latin-1
  (:func:`recsys.datasets.convert.convert_ml100k`, with the course's additions synthesised);
- **ml-1m**: ``users.dat`` (gender, age bucket, occupation code, zip), ``movies.dat`` and
  ``ratings.dat``, ``::`` separated, Latin-1; whole stars;
- **ml-10m** (folder ``ml-10M100K``): ``movies.dat`` and ``ratings.dat`` only, no users file;
  half stars;
- **ml-20m, ml-25m, ml-32m**: ``movies.csv`` (``movieId,title,genres``), ``ratings.csv``
  (``userId,movieId,rating,timestamp``), ``links.csv`` (IMDb ids); half stars; UTF-8.

Genres are ``|``-separated names: ``Children`` is the course's ``Children's``, ``(no genres
listed)`` is ``unknown``, and ``IMAX`` (10M and later) gets a column of its own. Nothing is
invented for the larger sets: names, demographics and release dates they lack stay empty
(``DATASET.json`` says so); the year is in each title.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.datasets.convert import convert_ml100k
from recsys.datasets.files import atomic_write_text
from recsys.datasets.info import ML100K_INFO, MOVIELENS, DatasetInfo, write_info
from recsys.datasets.tables import FILES, GENRES
from recsys.errors import DataError
from recsys.rules import HALF_STARS, STARS, one_of

BASE_URL = "https://files.grouplens.org/datasets/movielens"
#: Genres some archives have beyond the course's 19 (a 0/1 column each, after those).
EXTRA_GENRES: tuple[str, ...] = ("IMAX",)
GENRE_ALIASES = {"Children": "Children's", "(no genres listed)": "unknown"}

#: ML-1M occupation codes (its README).
OCCUPATIONS = ("other", "academic/educator", "artist", "clerical/admin",
               "college/grad student", "customer service", "doctor/health care",
               "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer",
               "programmer", "retired", "sales/marketing", "scientist", "self-employed",
               "technician/engineer", "tradesman/craftsman", "unemployed", "writer")
#: ML-1M age buckets -> an age inside the bucket (the data were collected in 2000).
AGE_OF_BUCKET = {1: 16, 18: 21, 25: 30, 35: 40, 45: 47, 50: 53, 56: 60}
ML1M_YEAR = 2000


@dataclass(frozen=True)
class Archive:
    """One official archive: where it is, its published MD5, its folder and what it holds."""

    name: str
    md5: str
    folder: str
    ratings: str
    info: DatasetInfo

    @property
    def url(self) -> str:
        return f"{BASE_URL}/{self.name}.zip"


def _info(name: str, text: str, **shape: object) -> DatasetInfo:
    return DatasetInfo(name=name, source=f"{text} (GroupLens Research), downloaded and "
                       "converted by `recsys data fetch`", **shape)  # type: ignore[arg-type]


_LATER = {"rating_scale": HALF_STARS, "names": False, "demographics": False,
          "release_dates": False, "workers": False}
ARCHIVES: dict[str, Archive] = {a.name: a for a in (
    Archive("ml-100k", "0e33842e24a9c977be4e0107933c0723", "ml-100k", "100,000",
            ML100K_INFO),
    Archive("ml-1m", "c4d9eecfca2ab87c1945afe126590906", "ml-1m", "1,000,209",
            _info("ml-1m", "MovieLens 1M", rating_scale=STARS, names=False,
                  release_dates=False, workers=False, synthesised=(
                      "birth years (2000 minus an age inside the MovieLens age bucket)",))),
    Archive("ml-10m", "ce571fd55effeba0271552578f2648bd", "ml-10M100K", "10,000,054",
            _info("ml-10m", "MovieLens 10M", **_LATER)),
    Archive("ml-20m", "cd245b17a1ae2cc31bb14903e1204af3", "ml-20m", "20,000,263",
            _info("ml-20m", "MovieLens 20M", **_LATER)),
    Archive("ml-25m", "6b51fb2759a8657d3bfcbfc42b592ada", "ml-25m", "25,000,095",
            _info("ml-25m", "MovieLens 25M", **_LATER)),
    Archive("ml-32m", "d472be332d4daa821edc399621853b57", "ml-32m", "32,000,204",
            _info("ml-32m", "MovieLens 32M", **_LATER)),
)}


assert tuple(ARCHIVES) == MOVIELENS


def archive_named(name: str) -> Archive:
    """The registered archive called ``name`` (a :class:`DataError` listing the names)."""
    return one_of(ARCHIVES, name, "dataset", DataError)


# -- reading the archive members -------------------------------------------------------------


def _member(zf: zipfile.ZipFile, archive: Archive, name: str) -> bytes:
    path = f"{archive.folder}/{name}"
    try:
        return zf.read(path)
    except KeyError:
        raise DataError(f"{archive.name}.zip has no {path}: not the official archive "
                        "layout") from None


def _text(raw: bytes) -> str:
    """UTF-8 when it is (the CSV archives), else Latin-1 (the ``.dat`` ones)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _dat(raw: bytes, names: list[str]) -> pd.DataFrame:
    """A ``::``-separated ``.dat`` file as text columns (no quoting in these files)."""
    text = _text(raw).replace("::", "\t")
    return pd.read_csv(io.StringIO(text), sep="\t", header=None, names=names, dtype=str,
                       keep_default_na=False, quoting=3)


def _ratings_dat(raw: bytes) -> pd.DataFrame:
    """``UserID::MovieID::Rating::Timestamp`` as numbers, via Arrow (10M lines)."""
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(io.BytesIO(raw.replace(b"::", b"\t")),
                           read_options=pacsv.ReadOptions(
                               column_names=["user_id", "movie_id", "rating", "ts"]),
                           parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False))
    return table.to_pandas()


def _ratings_csv(raw: bytes) -> pd.DataFrame:
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(io.BytesIO(raw))
    return table.to_pandas().rename(columns={"userId": "user_id", "movieId": "movie_id",
                                             "timestamp": "ts"})


# -- building the five tables -----------------------------------------------------------------


def _genre_flags(genres: pd.Series) -> pd.DataFrame:
    """``Action|Children`` -> the 19 course genre columns (+ IMAX when any movie has it)."""
    names = genres.str.split("|").map(lambda gs: {GENRE_ALIASES.get(g, g) for g in gs})
    known = set(GENRES) | set(EXTRA_GENRES)
    unknown = sorted(set().union(*names) - known) if len(names) else []
    if unknown:
        raise DataError(f"unknown genre(s) {unknown} in movies: not a MovieLens genre")
    columns = list(GENRES) + [g for g in EXTRA_GENRES if names.map(lambda s, g=g: g in s).any()]
    return pd.DataFrame({g: names.map(lambda s, g=g: int(g in s)) for g in columns},
                        index=genres.index)


def _movies(movies: pd.DataFrame, imdb: pd.Series | None = None) -> pd.DataFrame:
    """peliculas.csv: id, Name, Release Date (empty: not in these archives), IMDB URL, flags."""
    url = pd.Series("", index=movies.index)
    if imdb is not None:
        ids = movies["id"].astype(int).map(imdb)
        url = ids.map(lambda i: "" if pd.isna(i) else f"http://www.imdb.com/title/tt{int(i):07d}/")
    out = pd.DataFrame({"id": movies["id"].astype(int), "Name": movies["title"].str.strip(),
                        "Release Date": "", "IMDB URL": url})
    return pd.concat([out, _genre_flags(movies["genres"])], axis=1)


def _active_since(ratings: pd.DataFrame) -> pd.Series:
    """Each user's first rating time (their ``Active Since``)."""
    first = ratings.groupby("user_id", sort=True)["ts"].min()
    return pd.to_datetime(first, unit="s").dt.strftime("%Y-%m-%d %H:%M:%S")


def _people_without_demographics(ratings: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """persons (id only), users (first rating time), no workers: what 10M+ archives allow."""
    since = _active_since(ratings)
    ids = since.index.to_numpy()
    empty = pd.Series("", index=range(len(ids)))
    persons = pd.DataFrame({"id": ids, "Full Name": empty, "year of birth": empty,
                            "Gender": empty, "Zip Code": empty})
    users = pd.DataFrame({"id": ids, "Occupation": empty, "Active Since": since.to_numpy()})
    return {"persons": persons, "users": users, "workers": _no_workers()}


def _no_workers() -> pd.DataFrame:
    return pd.DataFrame(columns=["id", "Position", "Category", "Working Hours", "Start Date"])


def _ml1m_people(users: pd.DataFrame, ratings: pd.DataFrame) -> dict[str, pd.DataFrame]:
    since = _active_since(ratings)
    ids = users["id"].astype(int)
    age = users["age"].astype(int).map(AGE_OF_BUCKET)
    if age.isna().any():
        raise DataError("users.dat has an age code outside MovieLens's buckets "
                        f"{sorted(AGE_OF_BUCKET)}")
    occupation = users["occupation"].astype(int)
    if not occupation.between(0, len(OCCUPATIONS) - 1).all():
        raise DataError(f"users.dat has an occupation code outside 0..{len(OCCUPATIONS) - 1}")
    persons = pd.DataFrame({"id": ids, "Full Name": "", "year of birth": ML1M_YEAR - age,
                            "Gender": users["gender"], "Zip Code": users["zip"]})
    usuarios = pd.DataFrame({"id": ids, "Occupation": occupation.map(dict(enumerate(
        OCCUPATIONS))), "Active Since": ids.map(since).fillna("")})
    return {"persons": persons, "users": usuarios, "workers": _no_workers()}


def _scores(ratings: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"": np.arange(len(ratings)), "user_id": ratings["user_id"],
                         "movie_id": ratings["movie_id"], "rating": ratings["rating"],
                         "Date": pd.to_datetime(ratings["ts"], unit="s")})


def _read_ml1m(zf: zipfile.ZipFile, archive: Archive) -> dict[str, pd.DataFrame]:
    users = _dat(_member(zf, archive, "users.dat"), ["id", "gender", "age", "occupation", "zip"])
    movies = _dat(_member(zf, archive, "movies.dat"), ["id", "title", "genres"])
    ratings = _ratings_dat(_member(zf, archive, "ratings.dat"))
    return {**_ml1m_people(users, ratings), "movies": _movies(movies),
            "scores": _scores(ratings)}


def _read_ml10m(zf: zipfile.ZipFile, archive: Archive) -> dict[str, pd.DataFrame]:
    movies = _dat(_member(zf, archive, "movies.dat"), ["id", "title", "genres"])
    ratings = _ratings_dat(_member(zf, archive, "ratings.dat"))
    return {**_people_without_demographics(ratings), "movies": _movies(movies),
            "scores": _scores(ratings)}


def _read_csv_archive(zf: zipfile.ZipFile, archive: Archive) -> dict[str, pd.DataFrame]:
    movies = pd.read_csv(io.BytesIO(_member(zf, archive, "movies.csv")), dtype=str,
                         keep_default_na=False).rename(columns={"movieId": "id"})
    links = pd.read_csv(io.BytesIO(_member(zf, archive, "links.csv")), dtype=str,
                        keep_default_na=False)
    imdb = pd.to_numeric(links["imdbId"], errors="coerce")
    imdb.index = links["movieId"].astype(int)
    ratings = _ratings_csv(_member(zf, archive, "ratings.csv"))
    return {**_people_without_demographics(ratings), "movies": _movies(movies, imdb),
            "scores": _scores(ratings)}


READERS: dict[str, Callable[[zipfile.ZipFile, Archive], dict[str, pd.DataFrame]]] = {
    "ml-1m": _read_ml1m, "ml-10m": _read_ml10m, "ml-20m": _read_csv_archive,
    "ml-25m": _read_csv_archive, "ml-32m": _read_csv_archive}


def convert(name: str, archive_path: str | Path, data_dir: str | Path,
            seed: int = 42) -> list[Path]:
    """Convert the official archive of dataset ``name`` into the five CSVs and
    ``DATASET.json`` in ``data_dir``; the paths of the CSVs."""
    archive = archive_named(name)
    if name == "ml-100k":
        return convert_ml100k(archive_path, data_dir, seed=seed)
    try:
        with zipfile.ZipFile(archive_path) as zf:
            frames = READERS[name](zf, archive)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{archive_path} is not a zip archive ({exc})") from None
    return write_tables(frames, Path(data_dir), archive.info)


def write_tables(frames: dict[str, pd.DataFrame], data_dir: Path,
                 info: DatasetInfo) -> list[Path]:
    """The five tables as CSVs (scores through Arrow: tens of millions of rows) and the
    dataset description beside them."""
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for table, frame in frames.items():
        path = data_dir / FILES[table]
        if table == "scores":
            write_scores_csv(frame, path)
        else:
            atomic_write_text(path, frame.to_csv(index=False))
        paths.append(path)
    write_info(data_dir, info)
    return paths


def write_scores_csv(frame: pd.DataFrame, path: Path, append: bool = False) -> None:
    """scores.csv columns (``"", user_id, movie_id, rating, Date``; Date a datetime) written
    with Arrow's CSV writer (ten times pandas' speed); whole ratings are written as ``4``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.Table.from_pandas(frame.assign(Date=frame["Date"].astype("datetime64[s]")),
                                 preserve_index=False)
    options = pacsv.WriteOptions(include_header=not append, quoting_style="needed")
    if append:
        with path.open("ab") as out:
            pacsv.write_csv(table, out, options)
        return
    tmp = path.with_name(path.name + ".tmp")
    pacsv.write_csv(table, tmp, options)
    tmp.replace(path)
