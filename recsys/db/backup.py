"""A net under ``recsys ingest --replace``: what it would delete, and a copy to restore.

Replacing makes the tables exactly the CSVs, so it deletes what only the database holds:
ratings posted through the API, people and movies added with the entity classes, and every
prediction and cluster (derived data). :func:`replace_losses` counts those rows before
anything changes, so the command can say what will be lost and ask; :func:`backup` writes
the database's source tables as the five CSVs (plus the derived tables as plain CSVs) under
``var/backups/<time>-before-replace/``, which ``recsys ingest --replace --data-dir FOLDER``
loads back. :func:`prune` keeps the newest few.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, func, inspect, select

from recsys.datasets.files import atomic_write_text
from recsys.datasets.tables import Dataset
from recsys.db.schema import Base

#: Derived tables: all their rows go with a replace (``recsys predict`` and ``recsys
#: cluster`` rebuild them).
DERIVED = ("predictions", "clusters", "user_clusters")
#: What each counted loss is, for the console.
LOSS_NAMES = {"scores": "rating{s} the CSVs do not have (posted through the API, or added)",
              "persons": "person{s}", "users": "user{s}", "workers": "worker{s}",
              "movies": "movie{s}", "predictions": "stored prediction{s}",
              "clusters": "cluster{s}", "user_clusters": "cluster membership{s}"}


def replace_losses(engine: Engine, dataset: Dataset) -> dict[str, int]:
    """Rows a replace by ``dataset`` would delete for good, per table (tables that lose none
    are left out): source rows whose key the dataset lacks (a rating by its user and movie,
    anything else by id), and every derived row."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("scores"):
            return {}
        tables = Base.metadata.tables
        losses: dict[str, int] = {}
        for name, frame in (("persons", dataset.persons), ("users", dataset.users),
                            ("workers", dataset.workers), ("movies", dataset.movies)):
            held = pd.Index(conn.execute(select(tables[name].c.id)).scalars().all())
            losses[name] = int((~held.isin(frame["id"])).sum())
        scores = tables["scores"]
        pairs = pd.DataFrame(conn.execute(select(scores.c.user_id, scores.c.movie_id)).all(),
                             columns=["user_id", "movie_id"])
        given = pd.MultiIndex.from_frame(dataset.scores[["user_id", "movie_id"]])
        losses["scores"] = int((~pd.MultiIndex.from_frame(pairs).isin(given)).sum()) \
            if len(pairs) else 0
        for name in DERIVED:
            losses[name] = int(conn.execute(select(func.count()).select_from(tables[name]))
                               .scalar_one())
    return {name: count for name, count in losses.items() if count}


def describe_losses(losses: dict[str, int]) -> str:
    """One line: "2,771 ratings the CSVs do not have (...), 94,300 stored predictions"."""
    return ", ".join(f"{count:,} " + LOSS_NAMES.get(name, name).format(s="" if count == 1 else "s")
                     for name, count in losses.items())


def backup(engine: Engine, root: Path, keep: int) -> Path:
    """Write the database's tables under ``root/<UTC time>-before-replace/`` (the source tables
    as the five CSVs, the derived ones as ``<table>.csv``), then keep only the newest
    ``keep`` backups. Returns the folder."""
    from recsys.datasets.write import save
    from recsys.db import read_dataset

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = root / f"{stamp}-before-replace"
    partial = root / f".{folder.name}.partial"
    partial.mkdir(parents=True)
    try:
        save(read_dataset(engine), partial)
        with engine.connect() as conn:
            for name in DERIVED:
                result = conn.execute(select(Base.metadata.tables[name]))
                frame = pd.DataFrame(result.all(), columns=list(result.keys()))
                atomic_write_text(partial / f"{name}.csv", frame.to_csv(index=False))
        partial.rename(folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    prune(root, keep)
    return folder


def prune(root: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups under ``root`` (and folders of backups that
    were interrupted); returns what was deleted."""
    if not root.is_dir():
        return []
    done = sorted(p for p in root.iterdir() if p.is_dir() and p.name.endswith("-before-replace")
                  and not p.name.startswith("."))
    hour_ago = time.time() - 3600  # younger ones may be being written right now
    stale = [p for p in root.iterdir() if p.name.startswith(".") and p.name.endswith(".partial")
             and p.stat().st_mtime < hour_ago]
    doomed = done[:-keep] if keep > 0 else done
    for path in [*doomed, *stale]:
        shutil.rmtree(path, ignore_errors=True)
    return [*doomed, *stale]
