"""The recommendations service: which movies a user gets, from which source, and why.

Kept apart from the views (which only parse, call and serialise) so the decision can be tested
on its own:

- **stored**: the user's batch predictions (``recsys predict``), minus movies rated since;
- **live**: scored now by the model when nothing (or not enough) is stored;
- **cold_start**: a user with no ratings gets the model's cold-start list (side features and
  popularity);
- every movie carries a **reason**: the user's highly rated movie closest to it in the
  model's movie space ("because you rated Amadeus 5/5"), or why there is none.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from recsys.api.serving import MovieInfo, Snapshot

#: How many of a user's liked movies are considered as the reason for a recommendation.
MAX_REASONS_FROM = 100
POPULAR = "popular with many users"
COLD = "popular with many users and a good fit for your profile"


class NoModelToScore(Exception):
    """Nothing stored for the user and no trained model to score live."""


@dataclass
class Pick:
    """One recommended movie before it is described."""

    movie_id: int
    predicted_rating: float
    score: float


class Explainer:
    """Reasons from the model's movie vectors (unit length, built once per model)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: str | None = None
        self._matrix: np.ndarray | None = None
        self._rows: dict[int, int] = {}

    def _space(self, model: Any) -> tuple[np.ndarray, dict[int, int]] | None:
        if model is None:
            return None
        with self._lock:
            if self._version != model.version or self._matrix is None:
                frame = model.movie_embeddings()
                array = frame.to_numpy(np.float64)
                norms = np.linalg.norm(array, axis=1, keepdims=True)
                self._matrix = array / np.where(norms > 0, norms, 1.0)
                self._rows = {int(m): i for i, m in enumerate(frame.index)}
                self._version = model.version
            return self._matrix, self._rows

    def reasons(self, model: Any, liked: list[tuple[int, int]], movie_ids: list[int],
                titles: dict[int, str]) -> list[dict[str, Any]]:
        """For each movie, the liked movie (id, rating; best first) most similar to it."""
        popular = {"text": POPULAR, "because_movie_id": None, "similarity": None}
        space = self._space(model)
        if not liked or space is None:
            return [dict(popular) for _ in movie_ids]
        matrix, rows = space
        liked = [(m, r) for m, r in liked[:MAX_REASONS_FROM] if m in rows]
        if not liked:
            return [dict(popular) for _ in movie_ids]
        known = [m for m in movie_ids if m in rows]
        similarity = (matrix[[rows[m] for m in known]]
                      @ matrix[[rows[m] for m, _ in liked]].T) if known else None
        position = {m: i for i, m in enumerate(known)}
        out = []
        for movie_id in movie_ids:
            if similarity is None or movie_id not in position:
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


def choose(snap: Snapshot, user_id: int, k: int, model: Any) -> tuple[list[Pick], str,
                                                                    str | None]:
    """The user's top ``k``: picks, source and model version.

    Raises:
        NoModelToScore: nothing stored and no model to fill the list.
    """
    rated = snap.rated.get(user_id, set())
    stored = [p for p in snap.predictions.get(user_id, []) if p[0] not in rated][:k]
    picks = [Pick(m, rating, score) for m, rating, score, _ in stored]
    version = stored[0][3] if stored else None
    source = "stored"
    if len(picks) < k:
        if model is None:
            if not picks:
                raise NoModelToScore("no stored predictions for this user and no trained "
                                     "model to score live: run `recsys train` and "
                                     "`recsys predict`")
        else:
            live = model.recommend(user_id, k=k, exclude=[*rated, *(p.movie_id for p in picks)])
            picks += [Pick(int(r.movie_id), float(r.predicted_rating), float(r.score))
                      for r in live.itertuples()][: k - len(picks)]
            version = version or model.version
            source = ("cold_start" if not rated else "live" if not stored else "stored+live")
    return picks, source, version


def recommendations(snap: Snapshot, user_id: int, k: int, model: Any, explainer: Explainer,
                    movies: dict[int, MovieInfo],
                    lookup: Callable[[list[int]], dict[int, MovieInfo]]) -> dict[str, Any]:
    """The /recommendations payload.

    Args:
        snap: the read model (whole database, or one user's rows).
        movies: movie descriptions at hand; ``lookup`` reads the missing ones.
    """
    picks, source, version = choose(snap, user_id, k, model)
    cold = not snap.rated.get(user_id)
    liked = snap.liked.get(user_id, [])
    wanted = [p.movie_id for p in picks] + ([] if cold else [m for m, _ in liked])
    missing = [m for m in dict.fromkeys(wanted) if m not in movies]
    if missing:
        movies = {**movies, **lookup(missing)}
    ids = [p.movie_id for p in picks]
    if cold:
        reasons = [{"text": COLD, "because_movie_id": None, "similarity": None} for _ in ids]
    else:
        titles = {m: movies[m].title for m, _ in liked if m in movies}
        reasons = explainer.reasons(model, liked, ids, titles)
    return {"user_id": user_id, "k": k, "source": source, "cold_start": cold,
            "model_version": version,
            "recommendations": [
                {"rank": i + 1, "movie_id": p.movie_id, "title": movies[p.movie_id].title,
                 "year": movies[p.movie_id].year, "genres": movies[p.movie_id].genres,
                 "predicted_rating": round(float(p.predicted_rating), 4),
                 "score": round(float(p.score), 6) if np.isfinite(p.score) else 0.0,
                 "reason": reason}
                for i, (p, reason) in enumerate(zip(picks, reasons))]}
