"""Converting the GroupLens MovieLens 100K archive into the five course CSVs."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.datasets.files import atomic_write_text
from recsys.datasets.info import ML100K_INFO, write_info
from recsys.datasets.tables import DATE_FORMAT, DATETIME_FORMAT, FILES, GENRES


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
    users, items, ratings = _read_ml100k(Path(archive))
    ratings["when"] = pd.to_datetime(ratings["ts"].astype(int), unit="s")
    rng = np.random.default_rng(seed)
    people = _course_people(users, ratings, rng, n_workers)
    peliculas = pd.DataFrame({"id": items["id"], "Name": items["title"],
                              "Release Date": items["release"], "IMDB URL": items["url"]})
    for genre in GENRES:
        peliculas[genre] = items[genre]
    scores = pd.DataFrame({
        "": range(len(ratings)), "user_id": ratings["user_id"], "movie_id": ratings["movie_id"],
        "rating": ratings["rating"], "Date": ratings["when"].dt.strftime(DATETIME_FORMAT),
    })
    return write_csvs({**people, "movies": peliculas, "scores": scores}, Path(data_dir))


def _read_ml100k(archive: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """u.user, u.item and u.data of the archive, as text columns (the files are Latin-1)."""
    with zipfile.ZipFile(archive) as zf:
        def read(member: str, names: list[str]) -> pd.DataFrame:
            raw = zf.read(f"ml-100k/{member}").decode("latin-1")
            return pd.read_csv(io.StringIO(raw), sep="|" if member != "u.data" else "\t",
                               header=None, names=names, dtype=str, keep_default_na=False)

        return (read("u.user", ["id", "age", "gender", "occupation", "zip"]),
                read("u.item", ["id", "title", "release", "video", "url", *GENRES]),
                read("u.data", ["user_id", "movie_id", "rating", "ts"]))


FIRST_NAMES = ["Ana", "Bruno", "Carla", "Diego", "Elena", "Facundo", "Gina", "Hugo", "Irene",
               "Juan", "Karen", "Lucas", "Marta", "Nico", "Olga", "Pablo", "Rosa", "Santiago",
               "Tina", "Victor"]
LAST_NAMES = ["Alvarez", "Benitez", "Castro", "Dominguez", "Estevez", "Fernandez", "Gomez",
              "Herrera", "Ibarra", "Juarez", "Lopez", "Molina", "Navarro", "Ortiz", "Perez",
              "Quiroga", "Romero", "Sosa", "Torres", "Vega"]


def _course_people(users: pd.DataFrame, ratings: pd.DataFrame, rng: np.random.Generator,
                   n_workers: int) -> dict[str, pd.DataFrame]:
    """personas, usuarios and trabajadores from MovieLens users, the course's additions
    (names, workers) synthesised from ``rng``."""
    first_seen = ratings.groupby(ratings["user_id"].astype(int))["when"].min()
    user_ids = users["id"].astype(int)
    persons = pd.DataFrame({
        "id": user_ids,
        "Full Name": [f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
                      for _ in range(len(users))],
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
    return {"persons": persons, "users": usuarios, "workers": trabajadores}


def write_csvs(frames: dict[str, pd.DataFrame], data_dir: Path) -> list[Path]:
    """The converted tables as the five CSVs, with ``DATASET.json`` beside them."""
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in frames.items():
        path = data_dir / FILES[name]
        atomic_write_text(path, frame.to_csv(index=False))
        paths.append(path)
    write_info(data_dir, ML100K_INFO)
    return paths
