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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.api.serving import MovieInfo, Snapshot
from recsys.explain import COLD, Explainer

__all__ = ["Explainer", "NoModelToScore", "Pick", "choose", "recommendations"]


class NoModelToScore(Exception):
    """Nothing stored for the user and no trained model to score live."""


@dataclass
class Pick:
    """One recommended movie before it is described."""

    movie_id: int
    predicted_rating: float
    score: float


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
