"""The recommender: fit on ratings, then predict ratings and recommend movies by database id.

One trained :class:`Recommender` provides both jobs:

- ``predict(user_ids, movie_ids)``: ratings clipped to [1, 5], from the hybrid networks
  (:mod:`recsys.models.networks`), served from their factors as NumPy arrays, plus the
  rating blend's correction (:mod:`recsys.models.blend`: an AutoRec, neighbourhood models and
  day effects combined with the networks by weights fitted on held-out ratings);
- ``recommend(user_id, k)`` and ``recommend_many(user_ids, k)``: the top-k unseen movies by a
  ranking score, a sum of three parts standardised per user: the rating-weighted EASE ranker
  (:mod:`recsys.models.ranker`: what people choose to watch), the iALS ensemble
  (:mod:`recsys.models.ials`: the same from a low-rank model, weight ``rank_ials``) and the
  log-chance that the user likes the movie, from its predicted rating (weight
  ``rank_blend``). Ranking all movies by predicted rating alone ranks poorly (it ignores what
  people choose to watch); EASE alone ignores how much they liked it. Users with no ratings
  get a cold-start list (predicted rating from their side features, blended with
  popularity).

The original course architecture is kept as ``kind="reference"`` so the notebooks can show
the improvement. Internal positions never leave the models package: every argument and
result is keyed by database ids. The trained state is one frozen
:class:`~recsys.models.state.FittedModel`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.algorithms.topk import PairIndex, standardise, top_columns
from recsys.datasets.tables import Dataset
from recsys.display.progress import Progress, reporter
from recsys.errors import ModelError
from recsys.models import state as fitting
from recsys.models.config import ModelConfig
from recsys.models.distribute import Strategy
from recsys.models.ranker import liking
from recsys.models.state import FittedModel, catalogue_fingerprint

RECOMMENDATION_COLUMNS = ["rank", "movie_id", "score", "predicted_rating"]


class Recommender:
    """Fit on a scores table, then predict ratings and recommend movies by database id.

    Example::

        rec = Recommender().fit(train_scores, dataset)
        rec.predict([1, 1], [50, 181])
        rec.recommend(1, k=10)
        rec.save("var/model")
    """

    name = "recommender"

    def __init__(self, config: ModelConfig | None = None, progress: Progress = False,
                 strategy: Strategy | None = None) -> None:
        self.config = config or ModelConfig()
        self.progress = progress
        #: the ``tf.distribute`` strategy the networks train under (None: one process)
        self.strategy = strategy
        self.state: FittedModel | None = None
        self.version = ""
        self.metrics: dict[str, Any] = {}
        self.meta: dict[str, Any] = {}

    # -- state -------------------------------------------------------------------------------
    @property
    def fitted(self) -> FittedModel:
        """The trained state (:class:`ModelError` before ``fit`` or ``load``)."""
        if self.state is None:
            raise ModelError("the model is not trained: call fit() or Recommender.load()")
        return self.state

    @property
    def movie_ids(self) -> np.ndarray:
        """Every movie the model can score, in the column order of :meth:`score_items`."""
        return self.fitted.movies.ids

    @property
    def user_ids(self) -> np.ndarray:
        """Every user the model knows (others are treated as cold)."""
        return self.fitted.users.ids

    @property
    def history(self) -> pd.DataFrame:
        """Per-epoch training metrics of every network."""
        return self.state.history if self.state is not None else pd.DataFrame()

    @property
    def start_history(self) -> pd.DataFrame | None:
        """The per-epoch history of the model this one was warm-started from (its networks
        trained from scratch), or None: a fit from scratch, a model loaded from disk, or no
        fit yet (as :attr:`history` is empty then)."""
        return self.state.start_history if self.state is not None else None

    @property
    def fit_seconds(self) -> float | None:
        return self.state.fit_seconds if self.state is not None else None

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the training ratings."""
        return self.fitted.fingerprint

    @property
    def global_mean(self) -> float:
        return self.fitted.global_mean

    # -- training ------------------------------------------------------------------------------
    def fit(self, scores: pd.DataFrame, data: Dataset,
            progress: Progress | None = None,
            warm_start: Recommender | None = None) -> Recommender:
        """Train on ``scores`` (scores.csv columns), with ``data`` as side information.

        Args:
            scores: the ratings to learn from (any split of the data).
            data: persons, users, workers and movies (its own scores are not used).
            progress: one line per epoch: printed (True) or passed to a callable (e.g. the
                pipeline's heartbeat); default: the ``progress`` given to the constructor.
            warm_start: a model fitted in this process with the same configuration on part
                of ``scores`` (the holdout comparison's): the networks start from its
                weights and validate on its validation slice (ratings neither ever trains
                on), so they need a few epochs; anything else is fitted as usual. A model
                that does not match is ignored (a fit from scratch, said in the progress).
        """
        report = reporter(self.progress if progress is None else progress)
        warm = warm_start.state if warm_start is not None else None
        self.state = fitting.fit(self.config, scores, data, report, warm=warm,
                                 strategy=self.strategy)
        self.version = ""
        return self

    def derived(self, **changes: Any) -> Recommender:
        """The same trained model with parts turned off or the ranking weights changed, at
        no training cost (for comparisons): ``blend=False`` drops the rating blend,
        ``ials=0`` the iALS ranking model; ``rank_blend``, ``rank_liking`` and ``rank_ials``
        reweigh the ranking score. Anything else would need training: a ValueError."""
        import dataclasses

        allowed = {"blend", "ials", "rank_blend", "rank_liking", "rank_ials"}
        if set(changes) - allowed:
            raise ValueError(f"{sorted(set(changes) - allowed)} cannot change without "
                             f"training; derived() takes {sorted(allowed)}")
        if changes.get("blend", False) or changes.get("ials", 0):
            raise ValueError("derived() can turn the blend or iALS off, not on")
        state = self.fitted
        other = Recommender(dataclasses.replace(self.config, **changes), self.progress,
                            self.strategy)
        other.state = dataclasses.replace(
            state, config=other.config,
            blend=None if "blend" in changes else state.blend,
            ials=None if "ials" in changes else state.ials)
        return other

    def previous_model(self) -> Recommender:
        """The model as it was before this round's ensembles, from the same networks: no
        rating blend, ranked by EASE and 0.3 x the standardised predicted rating
        (:data:`recsys.models.config.PREVIOUS`)."""
        from recsys.models.config import PREVIOUS

        return self.derived(**PREVIOUS)

    # -- ratings -------------------------------------------------------------------------------
    def _ratings(self, u: np.ndarray, m: np.ndarray, at: Any = None) -> np.ndarray:
        state = self.fitted
        if state.factors is None:  # the reference model: its network (and so Keras) only
            from recsys.models import networks

            return networks.predict(state.networks[0], u, m)
        out = state.factors.pairs(state.global_mean, u, m)
        if state.blend is None:
            return out
        from recsys.models.blend import days

        return state.blend.adjust(out, u, m, None if at is None else days(at))

    def raw_ratings(self, user_ids: Any, movie_ids: Any, at: Any = None) -> np.ndarray:
        """Predicted ratings before clipping to the scale (for inspection)."""
        state = self.fitted
        u, m = state.users.positions(user_ids), state.movies.positions(movie_ids)
        if len(u) != len(m):
            raise ValueError(f"{len(u)} user ids but {len(m)} movie ids")
        if at is not None and len(np.atleast_1d(np.asarray(at))) != len(u):
            raise ValueError(f"{len(u)} pairs but {len(np.atleast_1d(np.asarray(at)))} dates")
        return self._ratings(u, m, at)

    @property
    def rating_range(self) -> tuple[float, float]:
        """The lowest and highest rating of the training data's scale."""
        return self.fitted.rating_range

    def predict(self, user_ids: Any, movie_ids: Any, at: Any = None) -> np.ndarray:
        """Predicted ratings on the data's scale (e.g. [1, 5]) for each (user, movie) pair
        (unknown ids are cold).

        Args:
            at: optional date of each rating (datetimes): the blend's user-day effects
                then apply (an evaluation's test ratings carry their dates); without it the
                prediction is for no particular day.
        """
        return np.clip(self.raw_ratings(user_ids, movie_ids, at), *self.rating_range)

    def _rating_matrix(self, u: np.ndarray) -> np.ndarray:
        """Predicted ratings (unclipped, for no particular day) of users (positions) for
        every catalogue movie."""
        state = self.fitted
        movies = np.arange(1, state.movies.rows)
        if state.factors is not None:
            out = state.factors.matrix(state.global_mean, u, movies)
            if state.blend is not None:
                out += state.blend.correction[u][:, 1:]
            return out
        return self._ratings(np.repeat(u, len(movies)), np.tile(movies, len(u))).reshape(
            len(u), len(movies))

    # -- ranking -------------------------------------------------------------------------------
    def _scores(self, u: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        """Ranking scores of every movie for users (positions), given their rating matrix."""
        state = self.fitted
        if self.config.kind == "reference":
            return ratings.copy()  # the original ranked every movie by predicted rating
        # every part standardised per user, so a weight means the same for everyone
        scores = standardise(state.ranker.scores(u))
        if self.config.rank_blend:
            rating_part = liking(ratings) if self.config.rank_liking else ratings
            scores += self.config.rank_blend * standardise(rating_part)
        if state.ials is not None and self.config.rank_ials:
            scores = scores + self.config.rank_ials * standardise(state.ials.scores(u))
        cold = ~state.ranker.has_history(u)
        if cold.any():
            popularity = standardise(state.ranker.popularity[None, 1:])
            scores[cold] = standardise(ratings[cold]) + popularity
        return scores

    def score_items(self, user_ids: Any) -> np.ndarray:
        """Ranking scores (higher is better) of every catalogue movie for each user.

        Columns follow :attr:`movie_ids`. The reference model ranks by predicted rating, as the
        original did. Otherwise, users with training ratings: standardised rating-weighted
        EASE + ``rank_blend`` x standardised liking score + ``rank_ials`` x standardised
        iALS score. Users without: cold-start score, standardised predicted rating +
        standardised log popularity.
        """
        u = self.fitted.users.positions(user_ids)
        return self._scores(u, self._rating_matrix(u))

    def is_cold(self, user_id: int) -> bool:
        """True when the model has no training ratings for this user."""
        state = self.fitted
        return not bool(state.ranker.has_history(state.users.positions([user_id]))[0])

    def seen_movies(self, user_id: int) -> np.ndarray:
        """Movie ids the user rated in the training data."""
        state = self.fitted
        u = state.users.position(user_id)
        if u == 0:
            return np.array([], dtype=np.int64)
        return state.movies.ids[state.ranker.seen(u) - 1]

    def recommend(self, user_id: int, k: int = 10, exclude_seen: bool = True,
                  exclude: Any = ()) -> pd.DataFrame:
        """Top-``k`` movies for one user.

        Args:
            user_id: database id (an unknown or rating-less user gets the cold-start list).
            k: how many movies.
            exclude_seen: leave out movies the user rated in the training data.
            exclude: further movie ids to leave out (e.g. ratings added since training).

        Returns:
            Columns rank, movie_id, score (ranking score), predicted_rating (1..5).
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        scores = self.score_items([user_id])[0]
        blocked = list(exclude)
        if exclude_seen:
            blocked.extend(self.seen_movies(user_id).tolist())
        if blocked:
            cols = self.fitted.movies.positions(blocked) - 1
            scores[cols[cols >= 0]] = -np.inf
        kk = min(k, int(np.isfinite(scores).sum()))
        if kk == 0:
            return pd.DataFrame(columns=RECOMMENDATION_COLUMNS)
        top = top_columns(scores, kk)
        movie_ids = self.movie_ids[top]
        return pd.DataFrame({"rank": np.arange(1, kk + 1), "movie_id": movie_ids,
                             "score": scores[top],
                             "predicted_rating": self.predict(np.full(kk, user_id), movie_ids)})

    def recommend_many(self, user_ids: Any, k: int = 10, exclude_seen: bool = True,
                       exclude: pd.DataFrame | None = None, batch: int | None = None
                       ) -> pd.DataFrame:
        """Top-``k`` movies for many users at once (what batch prediction stores).

        Args:
            user_ids: database ids.
            exclude_seen: leave out movies each user rated in the training data.
            exclude: further (user_id, movie_id) pairs to leave out.
            batch: users scored at once (default: as many as keep a score matrix near
                16 million cells, 1,024 at most: bounded memory at 62,000 movies).

        Returns:
            Columns user_id, rank, movie_id, score, predicted_rating (1..5); a user gets fewer
            than ``k`` rows only when fewer movies are left.
        """
        state = self.fitted
        ids = np.asarray(user_ids, dtype=np.int64)
        if batch is None:
            batch = int(np.clip(16_000_000 // max(1, len(self.movie_ids)), 64, 1024))
        excluded = PairIndex(exclude, self.movie_ids) if exclude is not None else None
        frames = []
        for start in range(0, len(ids), batch):
            users = ids[start:start + batch]
            u = state.users.positions(users)
            ratings = self._rating_matrix(u)
            scores = self._scores(u, ratings)
            if exclude_seen:
                scores[state.ranker.seen_mask(u)] = -np.inf
            if excluded is not None:
                excluded.mask(scores, users)
            frames.append(self._top_rows(users, u, scores, k))
        if not frames:
            return pd.DataFrame(columns=["user_id", *RECOMMENDATION_COLUMNS])
        return pd.concat(frames, ignore_index=True)

    def _top_rows(self, users: np.ndarray, u: np.ndarray, scores: np.ndarray,
                  k: int) -> pd.DataFrame:
        order = top_columns(scores, k)
        n = order.shape[1]
        top_scores = np.take_along_axis(scores, order, 1)
        keep = np.isfinite(top_scores).ravel()
        # the chosen pairs' ratings pair by pair (as predict gives them), not read off the
        # batch's matrix product: its float32 sums vary in the last digit with the batch's
        # shape, and a stored rating must not depend on which users were scored together
        # (a shard, a retry)
        pairs_u = np.repeat(u, n)[keep]
        pairs_m = order.ravel()[keep] + 1
        predicted = np.clip(self._ratings(pairs_u, pairs_m), *self.rating_range)
        return pd.DataFrame({
            "user_id": np.repeat(users, n)[keep],
            "rank": np.tile(np.arange(1, n + 1), len(users))[keep],
            "movie_id": self.movie_ids[order.ravel()][keep],
            "score": top_scores.ravel()[keep],
            "predicted_rating": predicted})

    # -- embeddings ----------------------------------------------------------------------------
    def movie_embeddings(self) -> pd.DataFrame:
        """One row per movie id: the learned movie vector (ID factors + side projection)."""
        return fitting.embedding_frame(self.fitted, "movie")

    def user_embeddings(self) -> pd.DataFrame:
        """One row per user id: the learned user vector (ID + side + implicit parts)."""
        return fitting.embedding_frame(self.fitted, "user")

    # -- persistence ---------------------------------------------------------------------------
    def save(self, root: str | os.PathLike[str], metrics: dict[str, Any] | None = None,
             keep: int | None = None) -> Path:
        """Write a versioned artifact under ``root`` (see :mod:`recsys.models.artifact`);
        ``keep``: then keep only the newest ``keep`` versions."""
        from recsys.models import artifact

        return artifact.save(self, Path(root), metrics, keep)

    @classmethod
    def load(cls, path: str | os.PathLike[str], data: Dataset | None = None,
             movie_ids: Any = None) -> Recommender:
        """Load a saved model: a version folder, or a root holding ``LATEST``.

        Args:
            path: where :meth:`save` wrote.
            data: if given, its movies must be the ones the model was trained on.
            movie_ids: alternatively, the movie ids the caller will ask about.

        Raises:
            ModelError: nothing there, a corrupt artifact, or data that does not match.
        """
        from recsys.models import artifact

        model = artifact.load(cls, Path(path))
        expected = data.movies["id"].to_numpy() if data is not None else movie_ids
        if expected is not None:
            model.check_catalogue(np.asarray(expected))
        return model

    def check_catalogue(self, movie_ids: Any) -> None:
        """Raise :class:`ModelError` unless ``movie_ids`` are the movies the model knows."""
        given = catalogue_fingerprint(np.asarray(movie_ids))
        if given != catalogue_fingerprint(self.movie_ids):
            theirs = set(np.asarray(movie_ids).tolist())
            mine = set(self.movie_ids.tolist())
            raise ModelError(
                f"model {self.version or '(unsaved)'} was trained on {len(mine)} movies but the "
                f"data has {len(theirs)} ({len(theirs - mine)} new, {len(mine - theirs)} "
                "missing): retrain with `recsys train`")
