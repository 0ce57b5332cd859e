"""Why a movie is recommended: the user's highly rated movie closest to it in the model's
movie space ("because you rated Amadeus 5/5"). Used by the API and the notebooks alike."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recsys.datasets.titles import display_year
from recsys.rules import LIKED_RATING

if TYPE_CHECKING:
    from recsys.datasets.tables import Dataset
    from recsys.models import Recommender

#: How many of a user's liked movies are considered as the reason for a recommendation.
MAX_REASONS_FROM = 100
POPULAR = "popular with many users"
COLD = "popular with many users and a good fit for your profile"
#: The reason for a user with no profile at all (an id the data do not hold).
NO_PROFILE = POPULAR + " (no ratings or profile known for this user)"


class Explainer:
    """Reasons from the model's movie vectors (unit length, built once per model)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: str | None = None
        self._matrix: np.ndarray | None = None
        self._rows: dict[int, int] = {}

    def _space(self, model: Recommender | None) -> tuple[np.ndarray, dict[int, int]] | None:
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

    def reasons(self, model: Recommender | None, liked: list[tuple[int, float]],
                movie_ids: list[int],
                titles: dict[int, str]) -> list[dict[str, Any]]:
        """For each movie, the liked movie (id, rating; best first) most similar to it."""
        popular: dict[str, Any] = {"text": POPULAR, "because_movie_id": None,
                                   "similarity": None}
        space = self._space(model)
        if not liked or space is None:
            return [dict(popular) for _ in movie_ids]
        matrix, rows = space
        liked = [(m, r) for m, r in liked[:MAX_REASONS_FROM] if m in rows]
        if not liked:
            return [dict(popular) for _ in movie_ids]
        known = [m for m in movie_ids if m in rows]
        position = {m: i for i, m in enumerate(known)}
        best: list[int] = []
        best_similarity: list[float] = []
        if known:  # one product and one argmax for every recommended movie at once
            similarity = (matrix[[rows[m] for m in known]]
                          @ matrix[[rows[m] for m, _ in liked]].T)
            picked = similarity.argmax(axis=1)
            best = picked.tolist()
            best_similarity = similarity[np.arange(len(known)), picked].tolist()
        out: list[dict[str, Any]] = []
        for movie_id in movie_ids:
            at = position.get(movie_id)
            if at is None:
                out.append({"text": "recommended by the model", "because_movie_id": None,
                            "similarity": None})
                continue
            because, rating = liked[best[at]]
            title = titles.get(because, f"movie {because}")
            out.append({"text": f"because you rated {title} {rating}/5 "
                                f"(similarity {best_similarity[at]:.2f})",
                        "because_movie_id": int(because),
                        "similarity": round(best_similarity[at], 4)})
        return out


def liked_movies(scores: pd.DataFrame, user_id: int) -> list[tuple[int, float]]:
    """(movie id, rating) of the movies a user liked, best rating first, newest first."""
    mine = scores[(scores["user_id"] == user_id) & (scores["rating"] >= LIKED_RATING)]
    mine = mine.sort_values(["rating", "rated_at"], ascending=[False, False])
    return [(int(m), int(r)) for m, r in zip(mine["movie_id"], mine["rating"])]


def favourites(data: Dataset, user_id: int, rating: float = 5, k: int = 10) -> pd.DataFrame:
    """Title and genres of up to ``k`` movies ``user_id`` rated ``rating`` (newest first)."""
    scores = data.scores
    mine = scores[(scores["user_id"] == user_id) & (scores["rating"] == rating)]
    mine = mine.sort_values("rated_at", ascending=False).head(k)
    movies = data.movies.set_index("id")
    return pd.DataFrame({"title": movies.loc[mine["movie_id"], "title"].to_numpy(),
                         "genres": movies.loc[mine["movie_id"], "genres"].to_numpy()})


def explained(model: Recommender, data: Dataset, user_id: int, k: int = 10,
              explainer: Explainer | None = None) -> pd.DataFrame:
    """A user's top ``k`` from the model with titles and the reason for each (a user the model
    has never seen gets the cold-start list)."""
    explainer = explainer or Explainer()
    recs = model.recommend(user_id, k=k)
    movies = data.movies.set_index("id")
    liked = liked_movies(data.scores, user_id)
    ids = [int(m) for m in recs["movie_id"]]
    titles = movies["title"].to_dict()
    if model.is_cold(user_id):
        profiled = bool((data.users["id"] == user_id).any())
        reasons = [COLD if profiled else NO_PROFILE] * len(ids)
    else:
        reasons = [r["text"] for r in explainer.reasons(model, liked, ids, titles)]
    return pd.DataFrame({
        "rank": recs["rank"].to_numpy(),
        "title": [titles[m] for m in ids],
        "year": [display_year(titles[m], movies.at[m, "release_date"]) for m in ids],
        "predicted_rating": recs["predicted_rating"].round(2).to_numpy(),
        "score": recs["score"].round(3).to_numpy(),
        "why": reasons})
