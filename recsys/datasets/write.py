"""Writing a :class:`~recsys.datasets.tables.Dataset` back as the five course CSVs, in their
original layout (column names, date formats, genre flags), atomically file by file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recsys.datasets.files import atomic_write_text
from recsys.datasets.info import COURSE, write_info
from recsys.datasets.tables import (
    COLUMNS,
    DATE_FORMAT,
    DATETIME_FORMAT,
    FILES,
    RELEASE_DATE_FORMAT,
    Dataset,
)


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
            for genre in dataset.genre_names():
                frame[genre] = frame["genres"].map(lambda gs, g=genre: int(g in gs))
            frame = frame.drop(columns=["genres"])
        elif table == "scores":
            frame["rated_at"] = frame["rated_at"].dt.strftime(DATETIME_FORMAT)
        out[table] = frame.rename(columns=reverse)
    return out


def save(dataset: Dataset, data_dir: str | Path) -> list[Path]:
    """Write the dataset as the five course CSVs (atomically, file by file), with its
    ``DATASET.json`` unless it is the course data.

    Returns:
        Paths of the CSVs written.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if dataset.info != COURSE:
        write_info(data_dir, dataset.info)
    paths = []
    for table, frame in to_csv_frames(dataset).items():
        path = data_dir / FILES[table]
        atomic_write_text(path, frame.to_csv(index=False))
        paths.append(path)
    return paths
