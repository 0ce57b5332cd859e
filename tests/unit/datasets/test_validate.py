"""Loading and validating the five CSVs (recsys/datasets/validate.py, checks.py, csvfile.py): every
rule reports the row with its reason, damaged files keep their good rows, and the real course
data loads with its known quirks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from support import file_lines, write_csvs

from recsys import datasets
from recsys.datasets import FILES, DataError


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


def test_damaged_lines_are_reported_with_their_number_and_good_rows_kept(
        tmp_path: Path, synthetic: datasets.Dataset) -> None:
    folder = write_csvs(tmp_path, synthetic)
    path = folder / "scores.csv"
    lines = file_lines(path)
    lines[2] += b",extra"                         # line 3: too many fields
    lines[3] = lines[3].replace(b",", b',"', 1)  # line 4: unclosed quote
    lines[4] = lines[4][:-2] + b"\xff\xfe"         # line 5: not UTF-8
    lines[5] = lines[5].split(b",", 1)[0]          # line 6: too few fields
    path.write_bytes(b"\n".join(lines))
    result = datasets.load(folder)
    report = result.report.set_index("line")
    assert "6 fields, expected 5" in report.loc[3, "reason"]
    assert "unclosed quote" in report.loc[4, "reason"]
    assert "not valid UTF-8" in report.loc[5, "reason"] and "0xff" in report.loc[5, "reason"]
    assert "1 fields, expected 5" in report.loc[6, "reason"]
    assert len(result.dataset.scores) == len(synthetic.scores) - 4
    summary = result.summary.set_index("table").loc["scores"]
    assert summary["rows_read"] == len(synthetic.scores) and summary["rejected"] == 4


def test_latin1_file_keeps_its_ascii_rows(tmp_path: Path, synthetic: datasets.Dataset) -> None:
    data = datasets.Dataset(**synthetic.tables())
    data.movies = synthetic.movies.assign(title=synthetic.movies["title"].where(
        synthetic.movies["id"] != 3, "Amélie (2001)"))
    folder = write_csvs(tmp_path, data)
    path = folder / "peliculas.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    result = datasets.load(folder)
    assert 3 not in set(result.dataset.movies["id"])
    assert len(result.dataset.movies) == len(synthetic.movies) - 1
    bad = result.report[result.report["table"] == "movies"]
    assert bad["reason"].str.contains("UTF-8").any() and (bad["line"] == 4).any()


@pytest.mark.parametrize("value,reason", [("1180591620717411303424", "must be between"),
                                          ("196.0", "is not an integer"),
                                          ("1e3", "is not an integer")])
def test_user_ids_that_are_not_integers_in_range_are_rejected(
        tmp_path: Path, synthetic: datasets.Dataset, value: str, reason: str) -> None:
    folder = write_csvs(tmp_path, synthetic)
    path = folder / "scores.csv"
    lines = file_lines(path)
    fields = lines[1].split(b",")
    fields[1] = value.encode()
    lines[1] = b",".join(fields)
    path.write_bytes(b"\n".join(lines))
    result = datasets.load(folder)
    row = result.report[(result.report["line"] == 2) & (result.report["field"] == "user_id")]
    assert row["reason"].str.contains(reason).all() and len(row) == 1


def test_non_integer_ratings_are_rejected(tmp_path: Path, synthetic: datasets.Dataset) -> None:
    data = datasets.Dataset(**synthetic.tables())
    folder = write_csvs(tmp_path, data)
    path = folder / "scores.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[0, "rating"] = "3.0"
    frame.to_csv(path, index=False)
    report = datasets.load(folder).report
    assert ((report["line"] == 2) & (report["field"] == "rating")
            & report["reason"].str.contains("not an integer")).any()


def test_an_empty_file_is_named(tmp_path: Path, synthetic: datasets.Dataset) -> None:
    folder = write_csvs(tmp_path, synthetic)
    (folder / "scores.csv").write_bytes(b"")
    with pytest.raises(DataError, match=r"scores\.csv is empty"):
        datasets.load(folder)
