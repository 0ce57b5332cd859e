"""Shared fixtures: real and synthetic data, SQLite and a real throwaway PostgreSQL 15."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from support import REPO, TRAIN, clean_env, fresh_clone, serve_world, train_metrics

from recsys import datasets, db
from recsys.db.schema import Base
from recsys.testing.postgres import TemporaryPostgres

UNIT = Path(__file__).resolve().parent / "unit"
#: The order the folders run in (the costliest first).
FOLDER_ORDER = {"system": 0, "integration": 1, "unit": 2}


def _folder(item: pytest.Item) -> str:
    """The test's folder under tests/ (system, integration or unit)."""
    parts = Path(str(item.path)).resolve().relative_to(UNIT.parent).parts
    return parts[0] if len(parts) > 1 else ""

# -- lanes ------------------------------------------------------------------------------------
#: Markers that keep a test out of the fast lane (`make test-fast`, `pytest -m fast`): it
#: needs a server (PostgreSQL, OpenSearch, pgAdmin, gunicorn, a browser, a Jupyter kernel) or
#: trains a TensorFlow network, or is otherwise slow. `make test` runs every lane.
COSTLY = ("postgres", "opensearch", "training", "server", "slow")
#: Fixtures that train a network, start a server or need one: a test using any of them (even
#: through another fixture) is marked so.
FIXTURE_MARKS = {"postgres_url": "postgres", "opensearch_node": "opensearch",
                 "api_model": "training"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test by what it costs, from the fixtures it uses and its own markers;
    what is left is ``fast``."""
    for item in items:
        for fixture, marker in FIXTURE_MARKS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)
        if not any(item.get_closest_marker(name) for name in COSTLY):
            item.add_marker("fast")
    # the costliest folders first (stable: a file's tests keep their order), so that with two
    # workers (`make test`, pytest-xdist by file) the long files start at once and the many
    # short ones fill the gaps at the end
    items.sort(key=lambda item: FOLDER_ORDER.get(_folder(item), len(FOLDER_ORDER)))
    # the folders follow the costs: tests/unit is all fast lane (integration: real databases,
    # OpenSearch, trained networks; system: the commands and servers as users run them)
    costly = [item.nodeid for item in items if UNIT in Path(str(item.path)).parents
              and item.get_closest_marker("fast") is None]
    if costly:
        raise pytest.UsageError(f"tests/unit holds only fast tests; move these to "
                                f"tests/integration or tests/system: {costly}")
    # a test module that imports TensorFlow (Keras, recsys.models.networks) at its top loads
    # it while collecting: the fast lane pays for it, and _fast_lane_trains_nothing can no
    # longer tell which test loads it
    if "tensorflow" in sys.modules:
        raise pytest.UsageError("a test module loads TensorFlow when it is collected: import "
                                "Keras and recsys.models.networks inside its tests or "
                                "fixtures")


@pytest.fixture(autouse=True)
def _fast_lane_trains_nothing(request: pytest.FixtureRequest) -> Iterator[None]:
    """In the fast lane, a test that loads TensorFlow (it trains a network) fails, naming
    the marker it needs: the lanes stay true as tests are added."""
    import sys

    before = "tensorflow" in sys.modules
    yield
    if (request.node.get_closest_marker("fast") is not None and not before
            and "tensorflow" in sys.modules):
        pytest.fail("this test loads TensorFlow but is in the fast lane: mark it "
                    "@pytest.mark.training")


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


@pytest.fixture(scope="session")
def opensearch_node() -> Iterator[Any]:
    """A real OpenSearch 2.19 node (k-NN, ML Commons) started for this test run: fetched
    once from Maven Central into the cache, then started on a free port; fails, never
    skips, when it cannot be had."""
    from recsys.testing.opensearch import OpenSearchNode, OpenSearchUnavailable

    try:
        node = OpenSearchNode()
        node.start()
    except OpenSearchUnavailable as exc:
        pytest.fail(f"the local OpenSearch node could not start: {exc}")
    yield node
    node.stop()


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


# -- the API's world: data with a cold-start user, a quickly trained model ----------------------


@pytest.fixture(scope="session")
def api_data() -> datasets.Dataset:
    """A synthetic dataset plus one user who has rated nothing (the cold-start case)."""
    import pandas as pd

    base = datasets.synthetic(n_users=50, n_movies=70, ratings_per_user=15, seed=9)
    persons = pd.concat([base.persons, base.persons.tail(1).assign(id=500)], ignore_index=True)
    users = pd.concat([base.users, base.users.tail(1).assign(id=500)], ignore_index=True)
    return datasets.Dataset(persons, users, base.workers, base.movies, base.scores)


@pytest.fixture(scope="session")
def api_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where :func:`api_model` is saved (the folder holding ``LATEST``)."""
    return tmp_path_factory.mktemp("model")


@pytest.fixture(scope="session")
def api_model(api_data: datasets.Dataset, api_model_root: Path) -> Any:
    """A model trained briefly on ``api_data`` and saved (its version is set)."""
    from recsys.models import ModelConfig, Recommender

    model = Recommender(ModelConfig(max_epochs=8, ensemble=1, seed=5)).fit(api_data.scores,
                                                                          api_data)
    model.save(api_model_root)
    return model


@pytest.fixture
def app(loaded: Engine, api_data: datasets.Dataset, api_model: Any,
        tmp_path: Path) -> Iterator[Any]:
    """The API on ``loaded`` with everything it serves from built for real."""
    from recsys.api import create_app

    app = create_app(**serve_world(loaded, api_data, api_model, tmp_path))
    yield app
    app.extensions["recsys"].cache.stop()


@pytest.fixture
def client(app: Any) -> Any:
    """A test client of :func:`app`."""
    return app.test_client()


@pytest.fixture(scope="session")
def synthetic_pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``recsys pipeline --synthetic`` (4 epochs, one network, a 20 % holdout) run once, as a
    newcomer runs it: in a fresh copy of the repository, from its root, with no RECSYS_*
    variable. The tests of the run folder, of the state it leaves and of serving from it
    share it. Returns the clone, its environment, the finished process and the runs
    folder."""
    root = tmp_path_factory.mktemp("pipeline")
    clone = fresh_clone(root / "clone")
    env = clean_env(root, clone)
    done = subprocess.run(
        [sys.executable, "-m", "recsys.cli", "pipeline", "--synthetic", "--quiet",
         "--runs-dir", str(root / "runs"), "-p", "epochs", "4", "-p", "ensemble", "1",
         "-p", "holdout", "0.2"], cwd=clone, env=env, capture_output=True, text=True,
        timeout=900)
    return {"clone": clone, "env": env, "done": done, "runs": root / "runs"}


# -- training past one machine: one dataset, one single-worker run to compare against ------------


@pytest.fixture(scope="session")
def training_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Synthetic CSVs (250 users, 300 movies, 20,000 ratings) ingested into SQLite: the
    environment the distributed training tests run ``recsys train`` in."""
    from recsys.datasets.generate import generate

    folder = tmp_path_factory.mktemp("distributed")
    generate(folder / "data", 250, 300, 20_000, seed=3, clusters=4)
    env = {**os.environ, "RECSYS_DATABASE_URL": f"sqlite:///{folder / 'db.sqlite'}",
           "RECSYS_DATA_DIR": str(folder / "data"), "RECSYS_VAR_DIR": str(folder / "var"),
           "RECSYS_SEED": "7", "CUDA_VISIBLE_DEVICES": "-1"}
    env.pop("TF_CONFIG", None)
    subprocess.run([sys.executable, "-m", "recsys.cli", "ingest"], env=env, check=True,
                   capture_output=True, text=True, timeout=300)
    return env


@pytest.fixture(scope="session")
def one_worker_metrics(training_world: dict[str, str],
                       tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The metrics of a plain one-process ``recsys train`` on :func:`training_world`: what
    training on several workers (TF_CONFIG, Ray) must match."""
    done = subprocess.run([*TRAIN, "--model-dir", str(tmp_path_factory.mktemp("single")),
                           "--quiet"], env=training_world, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return train_metrics(done.stdout)


