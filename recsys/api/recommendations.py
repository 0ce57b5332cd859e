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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from recsys.algorithms.topk import first_kept
from recsys.predictions.explain import COLD, Explainer
from recsys.readmodel.snapshot import MovieInfo, Snapshot

if TYPE_CHECKING:
    from recsys.models import Recommender

__all__ = ["Explainer", "NoModelToScore", "Pick", "choose", "live_picks", "recommendations"]


class NoModelToScore(Exception):
    """Nothing stored for the user and no trained model to score live."""


@dataclass
class Pick:
    """One recommended movie before it is described."""

    movie_id: int
    predicted_rating: float
    score: float


#: Movies in the database, of some ids: the read model's catalogue, or a database lookup.
Exists = Callable[[list[int]], set[int]]


def choose(snap: Snapshot, user_id: int, k: int, model: Recommender | None,
           exists: Exists | None = None) -> tuple[list[Pick], str, str | None]:
    """The user's top ``k``: picks, source and model version.

    ``exists`` says which movies the database still has: stored predictions and a model
    trained before an ``ingest --replace`` can name movies it no longer has, and those are
    skipped (the list is filled from further down), never served.

    Raises:
        NoModelToScore: nothing stored and no model to fill the list.
    """
    rated = snap.rated.get(user_id, set())
    stored = [p for p in snap.predictions.get(user_id, []) if p[0] not in rated]
    if exists is not None and stored:
        present = exists([p[0] for p in stored])
        stored = [p for p in stored if p[0] in present]
    stored = stored[:k]
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
            picks += live_picks(model, user_id, k - len(picks),
                                [*rated, *(p.movie_id for p in picks)], exists)
            version = version or model.version
            source = ("cold_start" if not rated else "live" if not stored else "stored+live")
    return picks, source, version


def live_picks(model: Recommender, user_id: int, wanted: int, exclude: list[int],
               exists: Exists | None) -> list[Pick]:
    """Up to ``wanted`` movies scored now by the model, skipping movies the database no
    longer has (asking the model for more until enough remain or it has no more)."""
    def scored(n: int) -> list[Pick]:
        live = model.recommend(user_id, k=n, exclude=exclude)
        return [Pick(int(r.movie_id), float(r.predicted_rating), float(r.score))
                for r in live.itertuples()]

    def still_there(picks: Sequence[Pick]) -> list[Pick]:
        present = exists([p.movie_id for p in picks]) if exists is not None else None
        return [p for p in picks if present is None or p.movie_id in present]

    return first_kept(scored, still_there, wanted)


def recommendations(snap: Snapshot, user_id: int, k: int, model: Recommender | None,
                    explainer: Explainer,
                    movies: dict[int, MovieInfo],
                    lookup: Callable[[list[int]], dict[int, MovieInfo]],
                    complete: bool = False) -> dict[str, Any]:
    """The /recommendations payload.

    Args:
        snap: the read model (whole database, or one user's rows).
        movies: movie descriptions at hand; ``lookup`` reads the missing ones (only movies
            the database has come back: the others are skipped).
        complete: ``movies`` is the whole catalogue (the read model's): a movie not in it
            is gone, no lookup needed.
    """
    found: dict[int, MovieInfo] = {}  # read from the database for this answer
    asked: set[int] = set()

    def exists(ids: list[int]) -> set[int]:
        missing = [m for m in dict.fromkeys(ids)
                   if m not in movies and m not in found and m not in asked]
        if missing and not complete:
            found.update(lookup(missing))
            asked.update(missing)
        return {m for m in ids if m in movies or m in found}

    def info(movie_id: int) -> MovieInfo:
        return movies[movie_id] if movie_id in movies else found[movie_id]

    picks, source, version = choose(snap, user_id, k, model, exists)
    cold = not snap.rated.get(user_id)
    liked = snap.liked.get(user_id, [])
    ids = [p.movie_id for p in picks]
    if cold:
        reasons = [{"text": COLD, "because_movie_id": None, "similarity": None} for _ in ids]
    else:
        present = exists([m for m, _ in liked])
        titles = {m: info(m).title for m, _ in liked if m in present}
        reasons = explainer.reasons(model, liked, ids, titles)
    return {"user_id": user_id, "k": k, "source": source, "cold_start": cold,
            "model_version": version,
            "recommendations": [
                {"rank": i + 1, "movie_id": p.movie_id, "title": info(p.movie_id).title,
                 "year": info(p.movie_id).year, "genres": info(p.movie_id).genres,
                 "predicted_rating": round(float(p.predicted_rating), 4),
                 "score": round(float(p.score), 6) if np.isfinite(p.score) else 0.0,
                 "reason": reason}
                for i, (p, reason) in enumerate(zip(picks, reasons))]}
