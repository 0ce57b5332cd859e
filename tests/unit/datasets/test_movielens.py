"""The official MovieLens archives, each fabricated here in its exact layout (folder, file
names, separators, encodings, quirks), converted into the five CSVs and validated; and the
fetch command against a local HTTP server (checksum pinned, dataset recorded)."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from recsys import datasets, rules
from recsys.datasets import movielens
from recsys.errors import DataError, FetchError


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def fake_ml1m() -> bytes:
    """``::``-separated, Latin-1, users with age bucket and occupation code."""
    return _zip({
        "ml-1m/users.dat": b"1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55117\n",
        "ml-1m/movies.dat": ("1::Toy Story (1995)::Animation|Children's|Comedy\n"
                             "2::Misérables, Les (1995)::Drama|Musical\n"
                             "3::Heat (1995)::Action|Crime|Thriller\n").encode("latin-1"),
        "ml-1m/ratings.dat": (b"1::1::5::978300760\n1::3::3::978302109\n2::1::4::978298413\n"
                              b"2::2::2::978299026\n3::3::1::978301968\n"),
    })


def fake_ml10m() -> bytes:
    """Folder ml-10M100K, no users file, half stars, IMAX and '(no genres listed)'."""
    return _zip({
        "ml-10M100K/movies.dat": (b"1::Toy Story (1995)::Adventure|Animation|Children|Comedy\n"
                                  b"2::Jumanji (1995)::IMAX|Fantasy\n"
                                  b"3::Something (2007)::(no genres listed)\n"),
        "ml-10M100K/ratings.dat": (b"5::1::3.5::838985046\n5::2::5::838983525\n"
                                   b"9::3::0.5::1225834680\n"),
        "ml-10M100K/tags.dat": b"15::4973::excellent!::1215184630\n",
    })


def fake_csv_archive(name: str) -> bytes:
    """ml-20m/25m/32m: CSVs with a header, quoted titles, links to IMDb, half stars."""
    return _zip({
        f"{name}/movies.csv": ('movieId,title,genres\n1,Toy Story (1995),'
                               'Adventure|Animation|Children|Comedy|Fantasy\n'
                               '11,"American President, The (1995)",Comedy|Drama|Romance\n'
                               '209171,Women of Devil\'s Island (1962),(no genres listed)\n'
                               '5,Amélie (2001),Comedy|Romance|IMAX\n').encode(),
        f"{name}/links.csv": b"movieId,imdbId,tmdbId\n1,0114709,862\n11,0112346,9087\n"
                             b"209171,0055323,\n5,0211915,194\n",
        f"{name}/ratings.csv": (b"userId,movieId,rating,timestamp\n1,1,4.0,1147880044\n"
                                b"1,11,3.5,1147868817\n2,209171,0.5,1574327703\n"
                                b"3,5,5.0,1147868828\n3,1,2.5,1147868414\n"),
        f"{name}/tags.csv": b"userId,movieId,tag,timestamp\n3,5,quirky,1439472355\n",
    })


def _convert(tmp_path: Path, name: str, data: bytes) -> datasets.LoadResult:
    archive = tmp_path / f"{name}.zip"
    archive.write_bytes(data)
    movielens.convert(name, archive, tmp_path / name)
    return datasets.load(tmp_path / name)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    """A local HTTP server holding the fabricated ml-25m archive."""
    data = fake_csv_archive("ml-25m")
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "ml-25m.zip").write_bytes(data)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path / "www"), **kwargs)  # type: ignore

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ml-25m.zip", data
    server.shutdown()


def test_ml1m_users_movies_and_whole_star_ratings(tmp_path: Path) -> None:
    result = _convert(tmp_path, "ml-1m", fake_ml1m())
    assert result.rejected.empty, result.rejected
    data = result.dataset
    assert data.counts() == {"persons": 3, "users": 3, "workers": 0, "movies": 3, "scores": 5}
    assert data.info.name == "ml-1m" and data.info.rating_scale == rules.STARS
    persons = data.persons.set_index("id")
    assert persons.loc[1, "gender"] == "F" and persons.loc[1, "zip_code"] == "48067"
    assert persons.loc[2, "birth_year"] == 2000 - 60  # age bucket 56 ("56+")
    assert persons["full_name"].isna().all()  # MovieLens has no names: none invented
    users = data.users.set_index("id")
    assert users.loc[1, "occupation"] == "K-12 student"
    assert users.loc[2, "occupation"] == "self-employed"
    assert users.loc[1, "active_since"] == pd.Timestamp(978300760, unit="s")
    movies = data.movies.set_index("id")
    assert movies.loc[2, "title"] == "Misérables, Les (1995)"  # Latin-1 decoded
    assert movies.loc[1, "genres"] == ["Animation", "Children's", "Comedy"]
    assert movies["release_date"].isna().all()
    assert result.report.empty  # no release dates in ML-1M: expected, not a warning
    assert data.scores["rating"].dtype == "int64"
    assert sorted(data.scores["rating"]) == [1, 2, 3, 4, 5]


def test_ml10m_half_stars_without_users_file(tmp_path: Path) -> None:
    result = _convert(tmp_path, "ml-10m", fake_ml10m())
    assert result.rejected.empty, result.rejected
    data = result.dataset
    assert data.info.rating_scale == rules.HALF_STARS and not data.info.demographics
    assert data.counts() == {"persons": 2, "users": 2, "workers": 0, "movies": 3, "scores": 3}
    assert data.persons[["full_name", "birth_year", "gender", "zip_code"]].isna().all().all()
    assert data.users["occupation"].isna().all()
    assert sorted(data.scores["rating"]) == [0.5, 3.5, 5.0]
    movies = data.movies.set_index("id")
    assert movies.loc[1, "genres"] == ["Adventure", "Animation", "Children's", "Comedy"]
    assert movies.loc[2, "genres"] == ["Fantasy", "IMAX"]
    assert movies.loc[3, "genres"] == ["unknown"]
    assert data.genre_names()[-1] == "IMAX"


@pytest.mark.parametrize("name", ["ml-20m", "ml-25m", "ml-32m"])
def test_csv_archives_quoted_titles_links_and_half_stars(tmp_path: Path, name: str) -> None:
    result = _convert(tmp_path, name, fake_csv_archive(name))
    assert result.rejected.empty, result.rejected
    data = result.dataset
    assert data.info.name == name and data.info.rating_scale == rules.HALF_STARS
    movies = data.movies.set_index("id")
    assert movies.loc[11, "title"] == "American President, The (1995)"
    assert movies.loc[5, "title"] == "Amélie (2001)"
    assert movies.loc[1, "imdb_url"] == "http://www.imdb.com/title/tt0114709/"
    assert movies.loc[209171, "genres"] == ["unknown"]
    assert "IMAX" in movies.loc[5, "genres"]
    scores = data.scores.set_index(["user_id", "movie_id"])["rating"]
    assert scores[(1, 11)] == 3.5 and scores[(2, 209171)] == 0.5 and scores[(3, 1)] == 2.5
    assert data.scores["rated_at"].min() == pd.Timestamp(1147868414, unit="s")


def test_half_star_csv_refuses_off_grid_ratings_and_whole_star_refuses_halves(
        tmp_path: Path) -> None:
    _convert(tmp_path, "ml-25m", fake_csv_archive("ml-25m"))
    scores = tmp_path / "ml-25m" / "scores.csv"
    lines = scores.read_text().splitlines()
    lines += ["5,1,11,3.25,2006-05-17 15:33:34", "6,2,1,5.5,2006-05-17 15:33:34",
              "7,3,11,abc,2006-05-17 15:33:34", "8,2,11,4,2006-05-17 15:33:34"]
    scores.write_text("\n".join(lines) + "\n")
    result = datasets.load(tmp_path / "ml-25m")
    reasons = result.rejected.set_index("line")["reason"]
    assert reasons[7] == "rating must be a number from 0.5 to 5 in steps of 0.5"
    assert reasons[8] == "rating must be a number from 0.5 to 5 in steps of 0.5"
    assert reasons[9] == "rating is not a number"
    assert 10 not in reasons.index  # "4" is on the half-star scale
    # the same half star in the whole-star course layout is refused
    _convert(tmp_path, "ml-1m", fake_ml1m())
    course = tmp_path / "ml-1m" / "scores.csv"
    course.write_text(course.read_text() + "5,3,1,3.5,2000-12-31 22:00:00\n")
    rejected = datasets.load(tmp_path / "ml-1m").rejected
    assert list(rejected["reason"]) == ["rating is not an integer"]


def test_archive_in_the_wrong_layout_is_named(tmp_path: Path) -> None:
    archive = tmp_path / "ml-25m.zip"
    archive.write_bytes(fake_csv_archive("ml-20m"))  # the folder inside says ml-20m
    with pytest.raises(DataError, match="ml-25m.zip has no ml-25m/movies.csv"):
        movielens.convert("ml-25m", archive, tmp_path / "out")
    with pytest.raises(DataError, match="unknown dataset 'ml-7m'"):
        movielens.archive_named("ml-7m")


def test_fetch_checks_the_md5_and_records_the_dataset(tmp_path: Path,
                                                      served: tuple[str, bytes]) -> None:
    url, data = served
    with pytest.raises(FetchError, match="expected 6b51fb2759a8657d3bfcbfc42b592ada"):
        datasets.fetch(tmp_path / "bad", dataset="ml-25m", url=url)  # not the real archive
    assert datasets.missing_files(tmp_path / "bad")  # nothing half-written
    md5 = hashlib.md5(data).hexdigest()
    datasets.fetch(tmp_path / "good", dataset="ml-25m", url=url, md5=md5)
    info = datasets.read_info(tmp_path / "good")
    assert info.name == "ml-25m" and info.rating_scale == rules.HALF_STARS
    assert "MovieLens 25M" in datasets.provenance(tmp_path / "good")
    # the folder now holds ml-25m: fetching another dataset into it is refused
    with pytest.raises(FetchError, match="already holds the ml-25m dataset"):
        datasets.fetch(tmp_path / "good", dataset="ml-1m", url=url)
