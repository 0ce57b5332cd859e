"""Shared fixtures: real and synthetic data, SQLite and a real throwaway PostgreSQL 15."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import Engine

from recsys import datasets, db
from recsys.pgtemp import TemporaryPostgres
from recsys.schema import Base

REPO = Path(__file__).resolve().parent.parent


def real_data_dir() -> Path:
    """The course CSVs: RECSYS_DATA_DIR, else ./datasets. Fails (never skips) when absent."""
    folder = Path(os.environ.get("RECSYS_DATA_DIR") or REPO / "datasets")
    missing = datasets.missing_files(folder)
    if missing:
        pytest.fail(f"the course CSVs are not in {folder} (missing {missing}): set "
                    "RECSYS_DATA_DIR=../shared/datasets or run `recsys data fetch`")
    return folder


@pytest.fixture(scope="session")
def real_dir() -> Path:
    return real_data_dir()


@pytest.fixture(scope="session")
def real_load(real_dir: Path) -> datasets.LoadResult:
    return datasets.load(real_dir)


@pytest.fixture(scope="session")
def synthetic() -> datasets.Dataset:
    return datasets.synthetic(n_users=40, n_movies=60, ratings_per_user=15, seed=3)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL cluster started for this test run and stopped at its end."""
    with TemporaryPostgres() as pg:
        yield pg.url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database with the schema, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        eng = db.make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    else:
        eng = db.make_engine(request.getfixturevalue("postgres_url"))
        Base.metadata.drop_all(eng)
    db.create_schema(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def loaded(engine: Engine, synthetic: datasets.Dataset) -> Engine:
    """The synthetic dataset ingested into ``engine``."""
    db.ingest(synthetic, engine)
    return engine
