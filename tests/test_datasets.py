"""Loading and validation: every rule fed a crafted bad row, the real data, round trips, fetch."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from recsys import datasets
from recsys.datasets import FILES, DataError, FetchError


def _write(dataset: datasets.Dataset, folder: Path) -> Path:
    datasets.save(dataset, folder)
    return folder


def _edit(folder: Path, table: str, row: int, column: str, value: str) -> None:
    """Set one cell of one CSV (as text), as a person editing the file would."""
    path = folder / FILES[table]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.columns = ["" if c.startswith("Unnamed") else c for c in frame.columns]
    frame.loc[row, column] = value
    frame.to_csv(path, index=False)


def _append(folder: Path, table: str, copy_of_row: int, **changes: str) -> None:
    path = folder / FILES[table]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.columns = ["" if c.startswith("Unnamed") else c for c in frame.columns]
    extra = frame.iloc[[copy_of_row]].copy()
    for column, value in changes.items():
        extra[column] = value
    pd.concat([frame, extra], ignore_index=True).to_csv(path, index=False)


@pytest.fixture
def folder(tmp_path: Path, synthetic: datasets.Dataset) -> Path:
    return _write(synthetic, tmp_path)


# (table, row, CSV column, bad value, expected words in the reason)
BAD_CELLS = [
    ("persons", 0, "id", "abc", "id is not an integer"),
    ("persons", 1, "Full Name", "  ", "full_name is empty"),
    ("persons", 2, "year of birth", "1850", "birth_year must be between 1900"),
    ("persons", 3, "year of birth", "nineteen", "birth_year is not an integer"),
    ("persons", 4, "Gender", "X", "gender must be M or F"),
    ("persons", 5, "Zip Code", "!!", "zip_code must be"),
    ("users", 0, "Active Since", "yesterday", "active_since is not a date"),
    ("users", 1, "Occupation", "", "occupation is empty"),
    ("workers", 0, "Working Hours", "9 to 18", "working_hours must look like"),
    ("workers", 1, "Working Hours", "9 - 27", "working_hours must look like"),
    ("workers", 2, "Start Date", "2020-13-40", "start_date is not a date"),
    ("movies", 0, "Action", "2", "genre flag Action must be 0 or 1"),
    ("movies", 1, "Release Date", "31-Foo-1995", "release_date is not a date"),
    ("movies", 2, "Name", "", "title is empty"),
    ("scores", 0, "rating", "6", "rating must be between 1 and 5"),
    ("scores", 1, "rating", "0", "rating must be between 1 and 5"),
    ("scores", 2, "rating", "3.5", "rating is not an integer"),
    ("scores", 3, "rating", "x", "rating is not an integer"),
    ("scores", 4, "Date", "not a date", "rated_at is not a date"),
    ("scores", 5, "user_id", "99999", "user_id 99999 is not a known user"),
    ("scores", 6, "movie_id", "99999", "movie_id 99999 is not a known movie"),
]


@pytest.mark.parametrize("table,row,column,value,reason", BAD_CELLS,
                         ids=[f"{t}-{c}-{v}" for t, _, c, v, _ in BAD_CELLS])
def test_each_rule_reports_the_bad_row_with_its_reason(folder: Path, table: str, row: int,
                                                        column: str, value: str,
                                                        reason: str) -> None:
    clean = datasets.load(folder)
    _edit(folder, table, row, column, value)
    result = datasets.load(folder)
    rejected = result.rejected
    hit = rejected[(rejected["table"] == table) & (rejected["line"] == row + 2)]
    assert not hit.empty, f"row {row} of {table} was not reported"
    assert any(reason in r for r in hit["reason"]), hit["reason"].tolist()
    assert value in hit["value"].tolist() or value.strip() == ""
    kept = getattr(result.dataset, table)
    assert len(kept) < len(getattr(clean.dataset, table))
    summary = result.summary.set_index("table")
    assert summary.loc[table, "rejected"] >= 1
    assert summary.loc[table, "kept"] == len(kept)


def test_duplicate_id_keeps_the_first_and_reports_the_second(folder: Path) -> None:
    _append(folder, "movies", 0, Name="Another title")
    result = datasets.load(folder)
    rejected = result.rejected[result.rejected["table"] == "movies"]
    assert len(rejected) == 1
    assert "duplicate id 1 (first at line 2)" in rejected["reason"].iloc[0]
    assert result.dataset.movies.set_index("id").loc[1, "title"] != "Another title"


def test_duplicate_user_movie_pair_is_reported(folder: Path, synthetic: datasets.Dataset) -> None:
    _append(folder, "scores", 0, **{"": str(len(synthetic.scores) + 10), "rating": "1"})
    result = datasets.load(folder)
    rejected = result.rejected[result.rejected["table"] == "scores"]
    assert len(rejected) == 1
    first = synthetic.scores.iloc[0]
    assert (f"duplicate rating of user {first.user_id} for movie {first.movie_id}"
            in rejected["reason"].iloc[0])
    assert len(result.dataset.scores) == len(synthetic.scores)


def test_rejected_person_cascades_to_user_worker_and_scores(folder: Path,
                                                            synthetic: datasets.Dataset) -> None:
    worker_id = int(synthetic.workers["id"].iloc[0])
    row = int(synthetic.persons.index[synthetic.persons["id"] == worker_id][0])
    _edit(folder, "persons", row, "Gender", "?")
    result = datasets.load(folder)
    reasons = result.rejected.groupby("table")["reason"].apply(list).to_dict()
    assert f"user {worker_id} is not a known person" in reasons["users"]
    assert f"worker {worker_id} is not a known person" in reasons["workers"]
    n_scores = int((synthetic.scores["user_id"] == worker_id).sum())
    assert reasons["scores"].count(f"user_id {worker_id} is not a known user") == n_scores
    assert worker_id not in set(result.dataset.scores["user_id"])


def test_missing_column_is_fatal_and_named(folder: Path) -> None:
    path = folder / FILES["persons"]
    frame = pd.read_csv(path, dtype=str).drop(columns=["Gender"])
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="'Gender'"):
        datasets.load(folder)


def test_missing_file_is_fatal_and_named(folder: Path) -> None:
    (folder / FILES["scores"]).unlink()
    with pytest.raises(DataError, match="scores.csv is missing"):
        datasets.load(folder)


def test_report_is_written_as_csv(folder: Path, tmp_path: Path) -> None:
    _edit(folder, "scores", 0, "rating", "9")
    result = datasets.load(folder, report_dir=tmp_path / "reports")
    written = pd.read_csv(tmp_path / "reports" / "load_report.csv", dtype=str)
    assert list(written.columns) == datasets.REPORT_COLUMNS
    assert written["reason"].str.contains("rating must be between").any()
    assert len(written) == len(result.report)


@pytest.mark.realdata
def test_real_data_counts_and_quirks(real_load: datasets.LoadResult) -> None:
    data = real_load.dataset
    assert data.counts() == {"persons": 943, "users": 943, "workers": 15, "movies": 1682,
                             "scores": 100000}
    assert real_load.rejected.empty
    unknown = data.movies.set_index("id").loc[267]
    assert pd.isna(unknown["release_date"]) and unknown["genres"] == ["unknown"]
    assert (data.scores["movie_id"] == 267).sum() == 9
    warning = real_load.report[real_load.report["severity"] == "warning"]
    assert warning[["table", "id", "field"]].values.tolist() == [["movies", "267",
                                                                  "release_date"]]
    assert set(data.workers["id"]) == set(data.users.loc[data.users["occupation"] == "ITBA",
                                                         "id"])
    # zip codes are text: Canadian codes and leading zeros survive
    zips = set(data.persons["zip_code"])
    assert "T8H1N" in zips
    assert any(z.startswith("0") for z in zips)
    assert data.scores["rated_at"].dtype.kind == "M"
    assert data.scores["rating"].between(1, 5).all()


@pytest.mark.realdata
def test_real_data_round_trip(real_load: datasets.LoadResult, tmp_path: Path) -> None:
    datasets.save(real_load.dataset, tmp_path)
    again = datasets.load(tmp_path)
    for name, table in real_load.dataset.tables().items():
        pd.testing.assert_frame_equal(table, getattr(again.dataset, name), obj=name)
    assert again.report.equals(real_load.report)


def test_synthetic_round_trip_and_determinism(synthetic: datasets.Dataset,
                                              tmp_path: Path) -> None:
    datasets.save(synthetic, tmp_path)
    again = datasets.load(tmp_path)
    assert again.report.empty
    for name, table in synthetic.tables().items():
        pd.testing.assert_frame_equal(table, getattr(again.dataset, name), obj=name)
    same = datasets.synthetic(n_users=40, n_movies=60, ratings_per_user=15, seed=3)
    other = datasets.synthetic(n_users=40, n_movies=60, ratings_per_user=15, seed=4)
    pd.testing.assert_frame_equal(same.scores, synthetic.scores)
    assert not other.scores[["user_id", "movie_id"]].equals(synthetic.scores[["user_id",
                                                                                "movie_id"]])
    assert synthetic.counts() == {"persons": 40, "users": 40, "workers": 5, "movies": 60,
                                  "scores": 600}


def test_fetch_fails_fast_offline_and_says_where_to_put_the_files(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(FetchError) as info:
        datasets.fetch(tmp_path / "data", url=f"http://127.0.0.1:{port}/ml-100k.zip")
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert str((tmp_path / "data").resolve()) in message and "RECSYS_DATA_DIR" in message


def test_fetch_does_nothing_when_the_files_are_there(folder: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    datasets.fetch(folder, url="http://127.0.0.1:9/never-called")
    assert before == {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def _fake_ml100k() -> bytes:
    """A miniature archive in the GroupLens layout (3 users, 3 items, 5 ratings)."""
    flags = "|".join(["0"] * 19)
    action = "|".join(["0", "1"] + ["0"] * 17)
    files = {
        "ml-100k/u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|T8H1N\n",
        "ml-100k/u.item": (f"1|Toy Story (1995)|01-Jan-1995||http://x/1|{flags}\n"
                           f"2|GoldenEye (1995)|01-Jan-1995||http://x/2|{action}\n"
                           f"3|unknown||||{flags}\n"),
        "ml-100k/u.data": ("1\t1\t5\t874965758\n1\t2\t3\t876893171\n2\t1\t4\t878542960\n"
                           "3\t3\t2\t876893119\n3\t2\t1\t889751712\n"),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buffer.getvalue()


def test_convert_ml100k_produces_valid_course_tables(tmp_path: Path) -> None:
    archive = tmp_path / "ml-100k.zip"
    archive.write_bytes(_fake_ml100k())
    datasets.convert_ml100k(archive, tmp_path / "data", n_workers=1)
    result = datasets.load(tmp_path / "data")
    assert result.rejected.empty
    assert result.dataset.counts() == {"persons": 3, "users": 3, "workers": 1, "movies": 3,
                                       "scores": 5}
    persons = result.dataset.persons.set_index("id")
    assert persons.loc[1, "birth_year"] == 1974 and persons.loc[3, "zip_code"] == "T8H1N"
    assert (result.dataset.users["occupation"] == "ITBA").sum() == 1
    assert result.dataset.movies.set_index("id").loc[2, "genres"] == ["Action"]


def test_atomic_write_replaces_whole_with_the_users_permissions(tmp_path: Path) -> None:
    """The written file has 0666 less the umask (as any file the user writes), replaces the
    old one whole, and a failed write leaves the old file and no temporary file behind."""
    import os
    import stat

    from recsys.datasets.tables import atomic_write_text

    path = tmp_path / "sub" / "metrics.json"
    previous = os.umask(0o027)
    try:
        atomic_write_text(path, "first")
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        atomic_write_text(path, "second ñ")
        with pytest.raises(TypeError):
            atomic_write_text(path, 42)  # type: ignore[arg-type]
    finally:
        os.umask(previous)
    assert path.read_text(encoding="utf-8") == "second ñ"
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]
