"""What the API serves from: the database, the vector store and the trained model.

One :class:`Services` object per app holds the engine (a bounded pool that fails fast
instead of hanging), the vector store, the model and the read model. Database sessions are
opened per request and always closed in the app's teardown, whatever happened in the view;
the original API leaked one per request and hung after 15.

A model that is missing or cannot be read does not stop the API: it boots, answers 503 with
the reason on the endpoints that need the model, serves the rest, and picks up a model as
soon as ``recsys train`` saves one. Public answers never carry file paths or exception
names; the details go to the server log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import g
from sqlalchemy import Engine, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from recsys import db
from recsys.api.recommendations import Explainer
from recsys.config import Settings
from recsys.datasets.info import DatasetInfo
from recsys.db import info as described
from recsys.db.schema import Movie, Prediction, Score, User
from recsys.errors import ModelNotFound
from recsys.models import Recommender
from recsys.readmodel import ReadModel, ServingCache, Snapshot, WriteMark
from recsys.rules import RatingScale
from recsys.vectors import open_store
from recsys.vectors.base import VectorStore

log = logging.getLogger("recsys.api")

NO_MODEL = "no trained model yet: run `recsys train`"
BAD_MODEL = ("the saved model cannot be read (details in the server log): retrain with "
             "`recsys train`")


@dataclass
class Services:
    """Backing services of one app instance."""

    settings: Settings
    engine: Engine
    store: VectorStore
    model: Recommender | None = None
    model_error: str | None = None
    cache: ServingCache | None = None
    writes: WriteMark | None = None
    explainer: Explainer = field(default_factory=Explainer)

    def __post_init__(self) -> None:
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._failed_version: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, model: Recommender | None = None,
                      engine: Engine | None = None, store: VectorStore | None = None,
                      snapshot: Snapshot | None = None) -> Services:
        """Connect to what the settings name; a missing or broken model is reported, not
        fatal. ``snapshot``: a read model loaded beforehand (gunicorn's master), checked
        against the database and used instead of loading one."""
        if engine is None:
            options: dict[str, Any] = {}
            if not settings.database_url.startswith("sqlite"):
                options = {"pool_size": 10, "max_overflow": 10, "pool_timeout": 5}
            engine = db.make_engine(settings.database_url, **options)
        services = cls(settings, engine, store or open_store(settings), model)
        if model is None:
            services.reload_model()
        services.writes = WriteMark.open(settings.var_dir, settings.database_url)
        services.cache = ServingCache(engine, settings.api_refresh_seconds,
                                      services.store_version,
                                      on_tick=services.reload_model_if_new,
                                      memory_ratings=settings.api_memory_ratings
                                      ).start(snapshot)
        return services

    def catch_up(self) -> None:
        """Before answering from the read model: apply the ratings other workers stored
        (read-your-writes across workers, :mod:`recsys.readmodel.writes`)."""
        if self.writes is not None and self.cache is not None:
            self.cache.catch_up(self.writes.latest())

    def note_write(self, score_id: int, user_id: int, movie_id: int, rating: float) -> None:
        """A rating this worker stored (after its commit, before its 201): into this
        worker's read model, and onto the mark every worker reads."""
        if self.cache is not None:
            self.cache.note_score(score_id, user_id, movie_id, rating)
        if self.writes is not None:
            self.writes.note(score_id)

    def store_version(self) -> Any:
        """Changes when the vector indexes are rebuilt (part of the store protocol)."""
        return self.store.version()

    def _latest_version(self) -> str | None:
        latest = self.settings.model_dir / "LATEST"
        try:
            return latest.read_text().strip() or None
        except OSError:
            return None

    def reload_model_if_new(self) -> bool:
        """Load the model again when `recsys train` has saved a newer one; True if it did.
        A version that failed to load is not retried until a newer one appears."""
        latest = self._latest_version()
        current = self.model.version if self.model is not None else None
        if latest is None or latest in (current, self._failed_version):
            return False
        self.reload_model()
        return self.model is not None and self.model.version == latest

    def reload_model(self) -> None:
        """(Re)load the latest model artifact; failures are kept as the public reason."""
        try:
            self.model = Recommender.load(self.settings.model_dir)
            self.model_error = None
            self._failed_version = None
        except ModelNotFound as exc:
            self._fail(exc, NO_MODEL)
        except Exception as exc:  # noqa: BLE001 - a broken artifact must not stop the API
            self._fail(exc, BAD_MODEL)

    def _fail(self, exc: Exception, public: str) -> None:
        if public == BAD_MODEL:
            log.error("model not loaded: %s", exc)
        self.model, self.model_error = None, public
        self._failed_version = self._latest_version()

    def reads(self) -> ReadModel:
        """The request's reads of the hot endpoints (memory first, else its session)."""
        return ReadModel(self.cache, self.session)

    # -- per-request session ------------------------------------------------------------------
    def session(self) -> Session:
        """The request's session (opened on first use, closed at teardown)."""
        if "db_session" not in g:
            g.db_session = self.sessions()
        return g.db_session

    @staticmethod
    def close_session(_exc: BaseException | None = None) -> None:
        """Release the request's session. Closing talks to the database (a rollback), and a
        database that went away meanwhile (a restart) makes it fail after the answer was
        made: that is logged and the connection discarded, never turned into a 500."""
        session = g.pop("db_session", None)
        if session is None:
            return
        try:
            session.close()
        except Exception as exc:  # noqa: BLE001 - the answer stands; the pool drops it
            log.warning("closing a database session failed (%s); connection discarded",
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            try:
                session.invalidate()
            except Exception:  # noqa: BLE001 - nothing more to release
                pass

    # -- health -------------------------------------------------------------------------------
    def _database_state(self) -> dict[str, Any]:
        try:
            with self.engine.connect() as conn:
                movies = conn.execute(select(func.count()).select_from(Movie)).scalar_one()
                # every table the endpoints serve from, each by existence (a count of
                # millions of ratings is too slow for a health check)
                empty = [table.__tablename__ for table in (User, Score, Prediction)
                         if not conn.execute(select(exists().select_from(table))).scalar()]
        except Exception as exc:  # noqa: BLE001 - any failure is "down", with its reason
            text = str(exc)
            log.warning("health: database: %s", text.splitlines()[0] if text else exc)
            if "no such table" in text or "does not exist" in text and "relation" in text:
                return {"status": "down", "error": "no tables yet: run `recsys ingest`"}
            return {"status": "down", "error": "unreachable"}
        dialect = self.engine.dialect.name
        if not movies:
            return {"status": "down", "dialect": dialect, "movies": 0,
                    "error": "no data yet: run `recsys ingest`"}
        if "users" in empty or "scores" in empty:
            gone = " and ".join(t for t in ("users", "scores") if t in empty)
            return {"status": "down", "dialect": dialect, "movies": int(movies),
                    "empty": empty, "error": f"no {gone} (emptied by an `ingest --replace "
                    "--force`?): run `recsys ingest` with the full CSVs"}
        info = self.dataset_info()
        state = {"status": "up", "dialect": dialect, "movies": int(movies),
                 "dataset": info.name, "rating_scale": info.rating_scale.as_dict()}
        if empty:  # no stored predictions: recommendations are scored live, more slowly
            state.update(empty=empty, note="no stored predictions: recommendations are "
                                           "scored live (run `recsys predict`)")
        return state

    def dataset_info(self) -> DatasetInfo:
        """What the database holds (name, rating scale); the course data when unrecorded."""
        with self.engine.connect() as conn:
            return described.read(conn)

    def rating_scale(self) -> RatingScale:
        """The scale new ratings must be on."""
        return self.dataset_info().rating_scale

    def documented_scale(self) -> RatingScale:
        """The scale the OpenAPI document states (read when the app starts): the database's,
        or the widest (half stars) when it cannot be read yet."""
        from recsys.rules import HALF_STARS

        try:
            return self.rating_scale()
        except Exception as exc:  # noqa: BLE001 - a database down at start is not fatal
            log.info("OpenAPI: rating scale unknown (%s): documenting half stars", exc)
            return HALF_STARS

    def _store_state(self) -> dict[str, Any]:
        backend = self.settings.vector_backend
        try:
            up = self.store.ping()
            indexed = up and self.store.exists("movies_learned")
        except Exception as exc:  # noqa: BLE001
            log.warning("health: vector store: %s", exc)
            return {"status": "down", "backend": backend, "error": "unreachable"}
        if indexed:
            return {"status": "up", "backend": backend}
        if up:
            return {"status": "down", "backend": backend,
                    "error": "index missing: run `recsys index`"}
        problem = self.store.problem() or "unreachable"
        log.warning("health: vector store: %s", problem)
        public = "credentials refused" if "credentials" in problem else "unreachable"
        return {"status": "down", "backend": backend, "error": public}

    def _movies_gone(self, model: Recommender) -> int:
        """How many of the model's movies the database no longer has (an ``ingest
        --replace`` since training): from the read model's catalogue, else the database."""
        import numpy as np

        snap = self.cache.snapshot if self.cache is not None else None
        if snap is not None:
            present = np.fromiter(snap.movies, np.int64, len(snap.movies))
        else:
            with self.engine.connect() as conn:
                present = np.asarray(conn.execute(select(Movie.id)).scalars().all(), np.int64)
        return int(np.isin(model.movie_ids, present, invert=True).sum())

    def health(self) -> dict[str, Any]:
        """State of each backing service; ``ok`` only when all are up."""
        state: dict[str, Any] = {"database": self._database_state(),
                                 "vector_store": self._store_state()}
        if self.model is not None:
            state["model"] = {"status": "up", "version": self.model.version}
            gone = self._movies_gone(self.model) if state["database"]["status"] == "up" else 0
            if gone:
                # served all the same (what is gone is skipped), but a retrain is due
                state["model"].update(status="stale", movies_gone=gone, error=(
                    f"the model knows {gone} movie(s) the database no longer has: run "
                    "`recsys train`, `recsys predict` and `recsys index`"))
        else:
            state["model"] = {"status": "down", "error": self.model_error or NO_MODEL}
        ok = all(part["status"] == "up" for part in state.values())
        return {"status": "ok" if ok else "degraded", **state}
