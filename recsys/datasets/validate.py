"""Loading and validating the five CSVs: nothing is dropped silently.

Each table is read as text (:mod:`recsys.datasets.csvfile` reports lines that cannot be read at
all) and checked column by column with the rules of :mod:`recsys.rules`. Each rejected row
lands in the report with the table, CSV line, id, field, offending value and reason;
warnings (rows kept with a caveat, such as the movie with no release date) are reported too,
with severity ``warning``. A rejected parent rejects its children, with that reason.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import rules
from recsys.datasets import csvfile
from recsys.datasets.checks import (
    check_datetime,
    check_int,
    check_rating,
    check_text,
    check_unique_id,
    keep,
    read_raw,
)
from recsys.datasets.info import COURSE, DatasetInfo, read_info
from recsys.datasets.tables import (
    COLUMNS,
    DATE_FORMAT,
    DATETIME_FORMAT,
    EXTRA_GENRES,
    FILES,
    GENRES,
    RELEASE_DATE_FORMAT,
    Dataset,
    LoadResult,
    Rejections,
    finalise,
)
from recsys.errors import DataError


def _score_block(rej: Rejections, df: pd.DataFrame, known_users: pd.Index,
                 known_movies: pd.Index, scale: rules.RatingScale, t: str) -> pd.DataFrame:
    """Validate one block of raw scores rows: types, ranges, references (duplicates are
    checked over the whole file afterwards, see :func:`_drop_duplicates`)."""
    ids = check_int(rej, t, df, "id", lo=0)  # scores.csv numbers its rows from 0
    user_id = check_int(rej, t, df, "user_id", lo=1)
    movie_id = check_int(rej, t, df, "movie_id", lo=1)
    rating = check_rating(rej, t, df, scale)
    rated_at = check_datetime(rej, t, df, "rated_at", DATETIME_FORMAT, instant=True)
    rej.add(t, df, user_id.notna() & ~user_id.isin(known_users), "user_id",
            lambda bad: "user_id " + bad["user_id"].str.strip() + " is not a known user")
    rej.add(t, df, movie_id.notna() & ~movie_id.isin(known_movies), "movie_id",
            lambda bad: "movie_id " + bad["movie_id"].str.strip() + " is not a known movie")
    rejected = rej.lines(t, since=df["_line"].iloc[0] if len(df) else 0)
    kept = ~df["_line"].isin(rejected)
    return pd.DataFrame({"id": ids[kept].astype("int64"),
                         "user_id": user_id[kept].astype("int32"),
                         "movie_id": movie_id[kept].astype("int32"),
                         "rating": rating[kept].astype("float32"),
                         "rated_at": rated_at[kept], "_line": df["_line"][kept]})


def _drop_duplicates(rej: Rejections, t: str, scores: pd.DataFrame) -> pd.DataFrame:
    """Reject repeated score ids and repeated (user, movie) pairs among the valid rows;
    the first occurrence is kept and each repeat names its line."""
    def first_line(keys: pd.Series, dup: pd.Series) -> pd.Series:
        repeated = keys[dup].unique()
        firsts = scores["_line"][~dup & keys.isin(repeated)]
        return keys.map(pd.Series(firsts.to_numpy(), index=keys[firsts.index].to_numpy()))

    frame = scores.assign(_raw_id=scores["id"].astype(str))
    dup_id = scores["id"].duplicated(keep="first")
    if dup_id.any():
        lines = first_line(scores["id"], dup_id)
        rej.add(t, frame, dup_id, "id", lambda bad: "duplicate id " + bad["_raw_id"]
                + " (first at line " + lines[bad.index].astype("int64").astype(str) + ")")
    pair = scores["user_id"].astype("int64") * (rules.MAX_ID + 1) + scores["movie_id"]
    dup_pair = pair.duplicated(keep="first") & ~dup_id
    if dup_pair.any():
        lines = first_line(pair, dup_pair)
        rej.add(t, frame, dup_pair, "movie_id",
                lambda bad: "duplicate rating of user " + bad["user_id"].astype(str)
                + " for movie " + bad["movie_id"].astype(str)
                + " (first at line " + lines[bad.index].astype("int64").astype(str) + ")")
    return scores[~(dup_id | dup_pair)]


def _read_scores(path: Path, rej: Rejections, known_users: pd.Index, known_movies: pd.Index,
                 scale: rules.RatingScale, label: str = "scores",
                 optional_id: bool = False) -> tuple[pd.DataFrame, int]:
    """scores.csv validated block by block (bounded memory: text is held one block at a
    time, the kept rows as numbers); the clean rows and the number of rows read."""
    if not path.is_file():
        raise DataError(f"{path} is missing: expected the five course CSVs in {path.parent} "
                        "(run `recsys data fetch`, or set RECSYS_DATA_DIR)")
    columns = _score_columns(path, optional_id)
    kept, read = [], 0
    for block in csvfile.iter_blocks(path):
        raw = _score_frame(block.rows, columns, optional_id, read)
        for bad in block.bad:
            rej.rows.append({"table": label, "line": bad.line, "id": "", "field": "(line)",
                             "value": bad.text, "reason": bad.reason, "severity": "rejected"})
        read += len(raw) + len(block.bad)
        kept.append(_score_block(rej, raw, known_users, known_movies, scale, label))
    if not kept:
        kept.append(_score_block(rej, _score_frame(pd.DataFrame(columns=[*columns, "_line"]),
                                                   columns, optional_id, 0),
                                 known_users, known_movies, scale, label))
    scores = pd.concat(kept, ignore_index=True)
    return _drop_duplicates(rej, label, scores), read


def _score_columns(path: Path, optional_id: bool) -> list[str]:
    """The header of a scores file, checked for the required columns."""
    found = ["" if c.startswith("Unnamed: 0") else c for c in csvfile.header(path)]
    required = [c for c in COLUMNS["scores"] if c or not optional_id]
    absent = [c for c in required if c not in found]
    if absent:
        shown = ", ".join(repr(c) for c in absent)
        raise DataError(f"{path} lacks required column(s) {shown}; it has {found}")
    return found


def _score_frame(rows: pd.DataFrame, columns: list[str], optional_id: bool,
                 offset: int) -> pd.DataFrame:
    """A block's text columns renamed to English (row numbers as ids when the file has no
    id column and ``optional_id``)."""
    rows = rows.copy()
    rows.columns = [*columns, "_line"] if len(rows.columns) == len(columns) + 1 else rows.columns
    if optional_id and "" not in columns:
        rows.insert(0, "", [str(offset + i) for i in range(len(rows))])
    rows = rows.rename(columns=COLUMNS["scores"])
    rows["_raw_id"] = rows["id"]
    return rows


def load_scores(path: str | Path, dataset: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and validate a CSV shaped like scores.csv against ``dataset``'s users and movies.

    Used for explicit train/test files (``recsys evaluate --train ... --test ...``).

    Returns:
        (clean scores with the same columns and dtypes as ``Dataset.scores``, report).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    rej = Rejections()
    scores, _ = _read_scores(path, rej, pd.Index(dataset.users["id"]),
                             pd.Index(dataset.movies["id"]), dataset.info.rating_scale,
                             label=path.name, optional_id=True)
    scores = _score_dtypes(scores.drop(columns=["_line"]), dataset.info)
    return scores.reset_index(drop=True), rej.frame()


def _score_dtypes(scores: pd.DataFrame, info: DatasetInfo) -> pd.DataFrame:
    out = scores.astype({"id": "int64", "user_id": "int64", "movie_id": "int64",
                         "rating": "int64" if info.rating_scale.whole else "float64"})
    out["rated_at"] = out["rated_at"].astype("datetime64[ns]")
    return out


# -- one function per table -------------------------------------------------------------------


def _persons(rej: Rejections, df: pd.DataFrame, info: DatasetInfo = COURSE) -> pd.DataFrame:
    """Persons; name and demographics may be empty when the dataset has none (``info``)."""
    t, optional = "persons", not info.demographics
    ids = check_int(rej, t, df, "id")
    check_unique_id(rej, t, df, ids)
    name = check_text(rej, t, df, "full_name", optional=not info.names)
    birth = check_int(rej, t, df, "birth_year", lo=rules.MIN_BIRTH_YEAR,
                       hi=date.today().year, optional=optional)
    gender = df["gender"].str.strip().str.upper()
    given = gender != "" if optional else pd.Series(True, index=df.index)
    rej.add(t, df, given & ~gender.isin(rules.GENDERS), "gender", rules.GENDER_MESSAGE)
    zips = df["zip_code"].str.strip()
    zip_given = zips != "" if optional else pd.Series(True, index=df.index)
    rej.add(t, df, zip_given & ~zips.str.match(rules.ZIP_RE.pattern), "zip_code",
            rules.ZIP_MESSAGE)
    return keep(rej, t, pd.DataFrame({"id": ids, "full_name": name, "birth_year": birth,
                                       "gender": gender.where(given, None),
                                       "zip_code": zips.where(zip_given, None),
                                       "_line": df["_line"]}))


def _users(rej: Rejections, df: pd.DataFrame, person_ids: set[int],
           info: DatasetInfo = COURSE) -> pd.DataFrame:
    t = "users"
    ids = check_int(rej, t, df, "id")
    check_unique_id(rej, t, df, ids)
    occupation = check_text(rej, t, df, "occupation", optional=not info.demographics)
    since = check_datetime(rej, t, df, "active_since", DATETIME_FORMAT, instant=True)
    rej.add(t, df, ids.notna() & ~ids.isin(person_ids), "id",
            lambda bad: "user " + bad["_raw_id"] + " is not a known person")
    return keep(rej, t, pd.DataFrame({"id": ids, "occupation": occupation,
                                       "active_since": since, "_line": df["_line"]}))


def _workers(rej: Rejections, df: pd.DataFrame, person_ids: set[int]) -> pd.DataFrame:
    t = "workers"
    ids = check_int(rej, t, df, "id")
    check_unique_id(rej, t, df, ids)
    position = check_text(rej, t, df, "position")
    category = check_text(rej, t, df, "category")
    hours = df["working_hours"].str.strip()
    parts = hours.str.extract(rules.WORKING_HOURS_RE).apply(pd.to_numeric, errors="coerce")
    bad_hours = parts.isna().any(axis=1) | (parts > 24).any(axis=1)
    rej.add(t, df, bad_hours, "working_hours", rules.WORKING_HOURS_MESSAGE)
    start = check_datetime(rej, t, df, "start_date", DATE_FORMAT)
    rej.add(t, df, ids.notna() & ~ids.isin(person_ids), "id",
            lambda bad: "worker " + bad["_raw_id"] + " is not a known person")
    return keep(rej, t, pd.DataFrame({"id": ids, "position": position, "category": category,
                                       "working_hours": hours, "start_date": start,
                                       "_line": df["_line"]}))


def _movies(rej: Rejections, df: pd.DataFrame, info: DatasetInfo = COURSE) -> pd.DataFrame:
    """Movies with their genre flags (the 19, and IMAX where the file has that column); an
    empty release date is a warning only where the dataset has release dates."""
    t = "movies"
    ids = check_int(rej, t, df, "id")
    check_unique_id(rej, t, df, ids)
    title = check_text(rej, t, df, "title")
    release = check_datetime(rej, t, df, "release_date", RELEASE_DATE_FORMAT,
                              allow_empty=True, warn_empty=info.release_dates)
    names = list(GENRES) + [g for g in EXTRA_GENRES if g in df.columns]
    flags = pd.DataFrame(index=df.index)
    for genre in names:
        text = df[genre].str.strip()
        rej.add(t, df, ~text.isin(["0", "1"]), genre, f"genre flag {genre} must be 0 or 1")
        flags[genre] = text == "1"
    genre_names = np.array(names, dtype=object)
    genres = [list(genre_names[row]) for row in flags.to_numpy()]
    url = df["imdb_url"].str.strip()
    return keep(rej, t, pd.DataFrame({
        "id": ids, "title": title, "release_date": release,
        "imdb_url": url.where(url != "", None), "genres": genres, "_line": df["_line"]}))


def _summary(read: dict[str, int], dataset: Dataset,
             report: pd.DataFrame) -> pd.DataFrame:
    """Per table: rows read (readable or not), rejected, kept, warnings."""
    kept = dataset.counts()
    return pd.DataFrame({
        "table": list(FILES), "rows_read": [read[t] for t in FILES],
        "rejected": [read[t] - kept[t] for t in FILES], "kept": [kept[t] for t in FILES],
        "warnings": [int(((report["table"] == t) & (report["severity"] == "warning")).sum())
                     for t in FILES]})


def load(data_dir: str | Path, report_dir: str | Path | None = None,
         verbose: bool = False) -> LoadResult:
    """Read and validate the five CSVs.

    Checks, per table: required columns (a missing one is fatal: :class:`DataError`), lines
    that cannot be read (wrong field count, unclosed quote, not UTF-8), types (integers written
    as digits, dates in their documented formats, 0/1 genre flags), ranges (ids, ratings on
    the dataset's scale: whole stars 1..5 or half stars 0.5..5,
    birth year from 1900 to this year, instants from 1990 to tomorrow, gender M/F, working
    hours ``H - H`` with hours 0..24, zip code of 2-10 letters/digits), control characters,
    duplicate ids and duplicate (user, movie) ratings (the first is kept), and referential
    integrity (users and workers are persons, scores point to known users and movies). The
    movie with no release date is kept with ``release_date`` NaT and a warning. Datasets
    described by a ``DATASET.json`` (see :mod:`recsys.datasets.info`) may leave names,
    demographics and release dates empty; scores.csv is read in blocks (any size).

    Args:
        data_dir: folder with the five CSVs.
        report_dir: if given, the report CSV is written there (``load_report.csv``).
        verbose: print the counts before and after, and the reasons.

    Returns:
        A :class:`LoadResult` with the clean dataset, the report and the summary.
    """
    data_dir = Path(data_dir)
    info = read_info(data_dir)
    rej = Rejections()
    raw = {table: read_raw(data_dir, table, rej) for table in FILES if table != "scores"}
    persons = _persons(rej, raw["persons"], info)
    person_ids = set(persons["id"].astype(int))
    users = _users(rej, raw["users"], person_ids, info)
    workers = _workers(rej, raw["workers"], person_ids)
    movies = _movies(rej, raw["movies"], info)
    scores, scores_read = _read_scores(data_dir / FILES["scores"], rej,
                                       pd.Index(users["id"].astype("int64")),
                                       pd.Index(movies["id"].astype("int64")),
                                       info.rating_scale)
    dataset = finalise(persons, users, workers, movies, scores, info)
    report = rej.frame()
    read = {t: len(frame) + frame.attrs.get("unreadable", 0) for t, frame in raw.items()}
    result = LoadResult(dataset=dataset, report=report,
                        summary=_summary({**read, "scores": scores_read}, dataset, report))
    if report_dir is not None:
        result.write_report(report_dir)
    if verbose:
        print(result.summary.to_string(index=False))
        if not report.empty:
            print(result.reasons().to_string(index=False))
    return result
