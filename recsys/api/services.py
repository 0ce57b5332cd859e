"""What the API serves from: the database, the vector store and the trained model.

One :class:`Services` object per app holds the engine (a bounded pool that fails fast
instead of hanging), the vector store and the model. Database sessions are opened per request
and always closed in the app's teardown, whatever happened in the view; the original API
leaked one per request and hung after 15.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import g
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from recsys import db
from recsys.api.serving import ServingCache
from recsys.config import Settings
from recsys.model import ModelError, Recommender
from recsys.schema import Movie
from recsys.vectors import open_store
from recsys.vectors.base import VectorStore


@dataclass
class Services:
    """Backing services of one app instance."""

    settings: Settings
    engine: Engine
    store: VectorStore
    model: Recommender | None = None
    model_error: str | None = None
    cache: ServingCache | None = None

    def __post_init__(self) -> None:
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._lock = threading.Lock()
        self._movie_vectors: np.ndarray | None = None
        self._titles: dict[int, str] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, model: Recommender | None = None,
                      engine: Engine | None = None, store: VectorStore | None = None
                      ) -> "Services":
        """Connect to what the settings name; a missing model is reported, not fatal."""
        if engine is None:
            options: dict[str, Any] = {}
            if not settings.database_url.startswith("sqlite"):
                options = {"pool_size": 10, "max_overflow": 10, "pool_timeout": 5}
            engine = db.make_engine(settings.database_url, **options)
        services = cls(settings, engine, store or open_store(settings), model)
        if model is None:
            services.reload_model()
        refresh = float(os.environ.get("RECSYS_API_REFRESH_SECONDS", "2") or 2)
        version = getattr(services.store, "version", None)
        if version is None:  # a remote store: similar-movie answers are kept 10 s at most
            version = lambda: int(time.monotonic() // 10)  # noqa: E731
        services.cache = ServingCache(engine, refresh, version,
                                      on_tick=services.reload_model_if_new).start()
        return services

    def _latest_version(self) -> str | None:
        latest = self.settings.model_dir / "LATEST"
        try:
            return latest.read_text().strip() or None
        except OSError:
            return None

    def reload_model_if_new(self) -> bool:
        """Load the model again when `recsys train` has saved a newer one; True if it did."""
        latest = self._latest_version()
        current = self.model.version if self.model is not None else None
        if latest is None or latest == current:
            return False
        self.reload_model()
        return self.model is not None and self.model.version == latest

    def reload_model(self) -> None:
        """(Re)load the latest model artifact."""
        try:
            self.model = Recommender.load(self.settings.model_dir)
            self.model_error = None
        except ModelError as exc:
            self.model, self.model_error = None, str(exc)
        self._movie_vectors = None

    # -- per-request session ------------------------------------------------------------------
    def session(self) -> Session:
        """The request's session (opened on first use, closed at teardown)."""
        if "db_session" not in g:
            g.db_session = self.sessions()
        return g.db_session

    @staticmethod
    def close_session(_exc: BaseException | None = None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()

    # -- health -------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """State of each backing service; ``ok`` only when all are up."""
        state: dict[str, Any] = {}
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                movies = conn.execute(select(func.count()).select_from(Movie)).scalar_one()
            state["database"] = {"status": "up", "dialect": self.engine.dialect.name,
                                 "movies": int(movies)}
        except Exception as exc:  # noqa: BLE001 - any failure is "down", with its reason
            state["database"] = {"status": "down", "error": type(exc).__name__}
        try:
            up = self.store.ping()
            indexed = up and self.store.exists("movies_learned")
            state["vector_store"] = {"status": "up" if indexed else "down",
                                     "backend": self.settings.vector_backend,
                                     **({} if indexed else {"error": "unreachable" if not up
                                                            else "index missing: run "
                                                                 "`recsys index`"})}
        except Exception as exc:  # noqa: BLE001
            state["vector_store"] = {"status": "down", "error": type(exc).__name__}
        if self.model is not None:
            state["model"] = {"status": "up", "version": self.model.version}
        else:
            state["model"] = {"status": "down", "error": self.model_error or "not loaded"}
        ok = all(part["status"] == "up" for part in state.values())
        return {"status": "ok" if ok else "degraded", **state}

    # -- explanations -------------------------------------------------------------------------
    def _vectors(self) -> tuple[np.ndarray, dict[int, int]] | None:
        """Unit-length learned movie vectors and a movie id -> row map (built once)."""
        if self.model is None:
            return None
        with self._lock:
            if self._movie_vectors is None:
                frame = self.model.movie_embeddings()
                array = frame.to_numpy(np.float64)
                norms = np.linalg.norm(array, axis=1, keepdims=True)
                self._movie_vectors = array / np.where(norms > 0, norms, 1.0)
                self._movie_rows = {int(m): i for i, m in enumerate(frame.index)}
        return self._movie_vectors, self._movie_rows

    def reasons(self, liked: list[tuple[int, int]], movie_ids: list[int],
                titles: dict[int, str]) -> list[dict[str, Any]]:
        """For each recommended movie, the user's highly rated movie (from ``liked``: movie id
        and rating, best first) most similar to it in the model's movie space."""
        popular = {"text": "popular with many users", "because_movie_id": None,
                   "similarity": None}
        vectors = self._vectors()
        if not liked or vectors is None:
            return [dict(popular) for _ in movie_ids]
        matrix, rows = vectors
        liked = [(m, r) for m, r in liked[:100] if m in rows]
        if not liked:
            return [dict(popular) for _ in movie_ids]
        liked_matrix = matrix[[rows[m] for m, _ in liked]]
        known = [m for m in movie_ids if m in rows]
        similarity = matrix[[rows[m] for m in known]] @ liked_matrix.T if known else None
        position = {m: i for i, m in enumerate(known)}
        out = []
        for movie_id in movie_ids:
            if movie_id not in position:
                out.append({"text": "recommended by the model", "because_movie_id": None,
                            "similarity": None})
                continue
            sims = similarity[position[movie_id]]
            best = int(np.argmax(sims))
            because, rating = liked[best]
            title = titles.get(because, f"movie {because}")
            out.append({"text": f"because you rated {title} {rating}/5 "
                                f"(similarity {sims[best]:.2f})",
                        "because_movie_id": int(because),
                        "similarity": round(float(sims[best]), 4)})
        return out
