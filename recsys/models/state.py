"""A fitted model as explicit state: one frozen dataclass of arrays, and how it is fitted.

Everything a trained :class:`~recsys.models.recommender.Recommender` knows is in
:class:`FittedModel`, created in one place (:func:`fit` here, or the artifact loader), never
attribute by attribute; serving reads it and never changes it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from recsys.datasets.tables import Dataset
from recsys.errors import ModelError
from recsys.models.blend import Baseline, Blend
from recsys.models.config import ModelConfig
from recsys.models.distribute import Strategy
from recsys.models.features import FeatureEncoder
from recsys.models.ials import ImplicitFactors
from recsys.models.ids import IdMap
from recsys.models.ranker import Ranker, search_l2


@dataclass(frozen=True)
class Seen:
    """The training ratings, as positions (what the ranker and the artifact keep)."""

    users: np.ndarray
    movies: np.ndarray
    ratings: np.ndarray


@dataclass(frozen=True, kw_only=True)
class FittedModel:
    """A trained model. Arrays are indexed by position (row 0: unknown user or movie). Built by
    keyword only (:func:`fit`, the artifact loader).

    Attributes:
        config: the hyper-parameters it was trained with.
        users, movies: the ids it knows.
        encoder: how side features were encoded (reused for anything scored later).
        global_mean: the mean training rating.
        user_side, movie_side: encoded side features.
        seen: the training ratings.
        networks: the Keras networks (one, or an ensemble; read from disk on first use
            after a load, see :class:`recsys.models.artifact.SavedNetworks`).
        factors: the hybrid ensemble's factors as NumPy arrays (None for the reference model).
        ranker: the EASE ranker.
        fingerprint: SHA-256 of the training ratings.
        history: per-epoch training metrics of every network.
        fit_seconds: how long fitting took (None when unknown).
        rating_range: lowest and highest rating of the dataset's scale (predictions are
            clipped to it).
        blend: the rating blend added to the networks' prediction (None: networks alone).
        ials: the iALS factors the ranking score adds (None: EASE and ratings alone).
    """

    config: ModelConfig
    users: IdMap
    movies: IdMap
    encoder: FeatureEncoder
    global_mean: float
    user_side: np.ndarray
    movie_side: np.ndarray
    seen: Seen
    networks: Sequence[Any]
    factors: Any
    ranker: Ranker
    fingerprint: str
    history: pd.DataFrame
    fit_seconds: float | None = None
    rating_range: tuple[float, float] = (1.0, 5.0)
    blend: Blend | None = None
    ials: ImplicitFactors | None = None
    #: the validation slice's (user, movie) pairs as ``user * movies.rows + movie`` keys
    #: (sorted): what a warm-started fit validates on (kept in memory, not saved)
    validation: np.ndarray | None = None
    #: the networks started from another fit's (:func:`warm_start_slice`)
    warm_started: bool = False
    #: the blend's AutoRec weights, for a fit that starts from this one (not saved)
    autorec_weights: list[np.ndarray] | None = None
    #: the networks' per-epoch history of the fit this one started from (a warm start; not
    #: saved): what the networks learnt from scratch, before the few epochs of ``history``
    start_history: pd.DataFrame | None = None


def embedding_frame(state: FittedModel, entity: str) -> pd.DataFrame:
    """Learned vectors of ``entity`` ("movie" or "user"), one row per database id (the
    exported hybrid factors, or the reference network's embedding table)."""
    if state.factors is not None:
        vectors = getattr(state.factors, f"{entity}_vectors")[1:]
    else:
        from recsys.models import networks

        vectors = networks.embedding_table(state.networks[0], entity)[1:]
    ids = state.movies.ids if entity == "movie" else state.users.ids
    frame = pd.DataFrame(vectors, columns=[f"e{i}" for i in range(vectors.shape[1])])
    frame.index = pd.Index(ids, name=f"{entity}_id")
    return frame


def fingerprint(scores: pd.DataFrame) -> str:
    """SHA-256 of the (user, movie, rating) triples, order-independent (half stars are
    counted in half steps, so every scale hashes exactly)."""
    rating = scores["rating"].to_numpy(dtype=np.float64)
    units = rating if np.array_equal(rating, np.rint(rating)) else rating * 2
    triples = np.stack([scores["user_id"].to_numpy(np.int64),
                        scores["movie_id"].to_numpy(np.int64),
                        np.rint(units).astype(np.int64)], axis=1)
    triples = triples[np.lexsort(triples.T[::-1])]
    return hashlib.sha256(np.ascontiguousarray(triples).tobytes()).hexdigest()


def catalogue_fingerprint(movie_ids: np.ndarray) -> str:
    """SHA-256 of the sorted movie ids (what a model's outputs are indexed by)."""
    ids = np.sort(np.asarray(movie_ids, dtype=np.int64))
    return hashlib.sha256(ids.tobytes()).hexdigest()


def side_features(encoder: FeatureEncoder, data: Dataset, users: IdMap,
                  movies: IdMap) -> tuple[np.ndarray, np.ndarray]:
    """Encoded user and movie side features, indexed by position."""
    encoded_users, user_side = encoder.encode_users(data)
    encoded_movies, movie_side = encoder.encode_movies(data)
    user_table = np.zeros((users.rows, encoder.user_width), np.float32)
    user_table[users.positions(encoded_users)] = user_side
    movie_table = np.zeros((movies.rows, encoder.movie_width), np.float32)
    movie_table[movies.positions(encoded_movies)] = movie_side
    return user_table, movie_table


def implicit_matrix(u: np.ndarray, m: np.ndarray, n_users: int, n_movies: int) -> np.ndarray:
    """Who rated what, each row scaled by 1/sqrt(number of ratings) (the SVD++ term). It uses
    every training rating, validation slice included: which movies a user rated is known;
    only the values of the held-out ratings are."""
    seen = np.zeros((n_users, n_movies), np.float32)
    seen[u, m] = 1.0
    seen /= np.sqrt(np.maximum(seen.sum(axis=1, keepdims=True), 1.0))
    return seen


def pair_keys(u: np.ndarray, m: np.ndarray, n_movies: int) -> np.ndarray:
    """One integer per (user, movie) position pair."""
    return u.astype(np.int64) * n_movies + m.astype(np.int64)


def warm_start_slice(warm: FittedModel | None, config: ModelConfig, users: IdMap,
                     movies: IdMap, u: np.ndarray, m: np.ndarray) -> np.ndarray | None:
    """The validation slice of a fit that starts from ``warm`` (a model fitted on part of
    these ratings, e.g. the holdout comparison's), or None when it cannot start from it.

    It is ``warm``'s own validation slice: ratings that neither its networks nor this fit's
    ever train on, so early stopping and the blend's weights stay honest. A different
    configuration, other users or movies, or no slice: a fit from scratch."""
    if warm is None or warm.validation is None or not len(warm.validation):
        return None
    if (replace(warm.config, ranker_l2=config.ranker_l2) != config
            or not np.array_equal(warm.users.ids, users.ids)
            or not np.array_equal(warm.movies.ids, movies.ids)):
        return None
    return np.isin(pair_keys(u, m, movies.rows), warm.validation)


def id_maps(scores: pd.DataFrame, data: Dataset) -> tuple[IdMap, IdMap]:
    """The users (the users table and anyone who rated) and the movies (the movies table)
    a fit knows; a :class:`ModelError` when ``scores`` name a movie the table lacks."""
    unknown = set(scores["movie_id"]) - set(data.movies["id"])
    if unknown:
        raise ModelError(f"scores reference {len(unknown)} movie(s) not in the movies table, "
                         f"e.g. {sorted(unknown)[:5]}")
    users = IdMap(np.union1d(data.users["id"].to_numpy(), scores["user_id"].unique()))
    return users, IdMap(np.sort(data.movies["id"].to_numpy()))


def fit(config: ModelConfig, scores: pd.DataFrame, data: Dataset,
        report: Callable[[str], None] | None = None,
        warm: FittedModel | None = None, strategy: Strategy | None = None) -> FittedModel:
    """Train networks and ranker on ``scores``, with ``data`` as side information
    (``strategy``: the networks' ``tf.distribute`` strategy, None for one process).

    ``warm``: a model fitted with the same configuration on part of ``scores`` (the holdout
    comparison's): the networks start from its weights and validate on its validation slice
    (:func:`warm_start_slice`), so they need a few epochs instead of a whole training."""
    from recsys.models import networks

    start = time.perf_counter()
    config, notes = config.adapted(len(scores), len(data.movies))
    for note in notes:
        if report is not None:
            report(note)
    networks.set_seed(config.seed)
    users, movies = id_maps(scores, data)
    encoder = FeatureEncoder.fit(data, scores)
    user_side, movie_side = side_features(encoder, data, users, movies)
    u, m = users.positions(scores["user_id"]), movies.positions(scores["movie_id"])
    r = scores["rating"].to_numpy(dtype=np.float32)
    global_mean = float(r.mean())
    warm_val = warm_start_slice(warm, config, users, movies, u, m)
    if warm is not None and report is not None:
        report("starting from the holdout model's networks" if warm_val is not None else
               "training from scratch: the holdout model does not match this data")
    is_val = (warm_val if warm_val is not None else
              np.random.default_rng(config.seed).random(len(r)) < config.validation_fraction)
    inputs = networks.Inputs(users.rows, movies.rows, user_side, movie_side, global_mean,
                             implicit_matrix(u, m, users.rows, movies.rows)
                             if config.kind == "hybrid" and config.implicit else None)
    x = np.stack([u, m], axis=1).astype(np.int32)
    start_from = warm if warm_val is not None else None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="recsys-ranking") as pool:
        ranking, baseline = submit_ratings_only(pool, config, u, m, r, is_val, users.rows,
                                                movies.rows, report, start_from)
        trained, history = networks.train(config, inputs, x, r, is_val, report,
                                          initial=start_from.networks if start_from else None,
                                          strategy=strategy)
        factors = (networks.export_factors(trained, users.rows, movies.rows)
                   if config.kind == "hybrid" else None)
        fitted_blend, autorec_weights = (
            fit_blend(config, factors, global_mean, u, m, r, scores, is_val, users.rows,
                      movies.rows, report, start_from.autorec_weights if start_from else None,
                      baseline.result())
            if factors is not None and baseline is not None else (None, None))
        config, ranker, implicit_factors = ranking.result()
    return FittedModel(
        config=config, users=users, movies=movies, encoder=encoder, global_mean=global_mean,
        user_side=user_side, movie_side=movie_side,
        seen=Seen(u.astype(np.int32), m.astype(np.int32), r.astype(np.float32)),
        networks=tuple(trained), factors=factors, ranker=ranker,
        fingerprint=fingerprint(scores), history=history,
        fit_seconds=time.perf_counter() - start,
        rating_range=(data.info.rating_scale.low, data.info.rating_scale.high),
        blend=fitted_blend, ials=implicit_factors,
        validation=np.sort(pair_keys(u[is_val], m[is_val], movies.rows)),
        warm_started=warm_val is not None, autorec_weights=autorec_weights,
        start_history=start_from.history if start_from else None)


def submit_ratings_only(pool: ThreadPoolExecutor, config: ModelConfig, u: np.ndarray,
                        m: np.ndarray, r: np.ndarray, is_val: np.ndarray, n_users: int,
                        n_movies: int, report: Callable[[str], None] | None,
                        start_from: FittedModel | None
                        ) -> tuple[Future[tuple[ModelConfig, Ranker, ImplicitFactors | None]],
                                   Future[Baseline] | None]:
    """Start what reads only the ratings, not the networks, on ``pool``: the ranking models
    (:func:`fit_ranking`) and, when the model blends, the blend's KNN-baseline (None
    otherwise).

    Why: they then fit while the networks train, which keep about 1.3 of the machine's 2
    cores busy; NumPy and SciPy release the interpreter lock in their heavy loops. The same
    numbers, sooner (on the 100K ratings a fit went from 36.6 s to 31.7 s).
    """
    ranking = pool.submit(fit_ranking, config, u, m, r, is_val, n_users, n_movies, report,
                          start_from.ials if start_from else None)
    blends = config.kind == "hybrid" and config.blend and bool(is_val.any())
    baseline = (pool.submit(Baseline.fit, u, m, r, is_val, config.neighbours, n_users,
                            n_movies) if blends else None)
    return ranking, baseline


def fit_ranking(config: ModelConfig, u: np.ndarray, m: np.ndarray, r: np.ndarray,
                is_val: np.ndarray, n_users: int, n_movies: int,
                report: Callable[[str], None] | None, initial: ImplicitFactors | None
                ) -> tuple[ModelConfig, Ranker, ImplicitFactors | None]:
    """The ranking half: EASE (:func:`fit_ranker`) and, for the hybrid model, iALS
    (:func:`fit_ials`, ``initial``: a warm start); the configuration records EASE's lambda."""
    config, ranker = fit_ranker(config, u, m, r, is_val, n_users, n_movies, report)
    implicit_factors = (fit_ials(config, u, m, n_users, n_movies, report, initial)
                        if config.kind == "hybrid" and config.ials > 0 else None)
    return config, ranker, implicit_factors


def fit_ranker(config: ModelConfig, u: np.ndarray, m: np.ndarray, r: np.ndarray,
               is_val: np.ndarray, n_users: int, n_movies: int,
               report: Callable[[str], None] | None) -> tuple[ModelConfig, Ranker]:
    """The EASE ranker on every rating, with its lambda chosen on the validation slice first
    when the configuration asks for it (the configuration returned records the choice)."""
    if config.ranker_l2_search and is_val.any():
        started = time.perf_counter()
        l2, tried = search_l2(u, m, r, is_val, n_users, n_movies,
                              config.ranker_rating_weight, config.ranker_max_items,
                              seed=config.seed)
        config = replace(config, ranker_l2=l2)
        if report is not None:
            shown = ", ".join(f"{value:g}: {ndcg:.4f}" for value, ndcg in sorted(tried.items()))
            report(f"EASE lambda {l2:g} chosen on the validation slice (NDCG@10 {shown}) in "
                   f"{time.perf_counter() - started:.1f} s")
    return config, Ranker.fit(u, m, r, n_users, n_movies, config.ranker_l2,
                              config.ranker_rating_weight, config.ranker_max_items)


def fit_ials(config: ModelConfig, u: np.ndarray, m: np.ndarray, n_users: int, n_movies: int,
             report: Callable[[str], None] | None,
             initial: ImplicitFactors | None) -> ImplicitFactors:
    """The iALS ranking model (``initial``: the factors it starts from, a warm start)."""
    from recsys.models import ials

    started = time.perf_counter()
    factors = ials.fit(u, m, n_users, n_movies, config.ials, config.seed, initial=initial)
    if report is not None:
        report(f"iALS ranking model ({config.ials} x {ials.FACTORS} factors) fitted in "
               f"{time.perf_counter() - started:.1f} s")
    return factors


def fit_blend(config: ModelConfig, factors: Any, global_mean: float, u: np.ndarray,
              m: np.ndarray, r: np.ndarray, scores: pd.DataFrame, is_val: np.ndarray,
              n_users: int, n_movies: int, report: Callable[[str], None] | None,
              autorec_start: list[np.ndarray] | None = None,
              baseline: Baseline | None = None) -> tuple[Blend, list[np.ndarray] | None]:
    """The rating blend around the networks' factors (dates from ``rated_at`` when the
    scores have them and ``config.blend_days``), and its AutoRec's weights (``autorec_start``:
    the weights it starts from, a warm start; ``baseline``: its KNN-baseline, if fitted
    already)."""
    from recsys.models import blend

    start = time.perf_counter()
    predict = factors.pairs(global_mean, u, m).astype(np.float32)
    full = factors.matrix(global_mean, np.arange(n_users), np.arange(n_movies)).astype(
        np.float32)
    dated = (config.blend_days and "rated_at" in scores.columns
             and bool(scores["rated_at"].notna().all()))
    day = blend.days(scores["rated_at"]) if dated else None
    others: tuple[np.ndarray, ...] = ()
    weights = None
    if config.autorec:
        from recsys.models import autorec

        keep = ~is_val
        reconstructed, weights = autorec.fit_predict(u[keep], m[keep], r[keep], n_users,
                                                     n_movies, config.seed,
                                                     initial=autorec_start)
        others = (reconstructed,)
    fitted = blend.fit(u, m, r, day, is_val, predict, full, config.neighbours, n_users,
                       n_movies, others, baseline)
    if report is not None:
        report(f"rating blend fitted in {time.perf_counter() - start:.1f} s")
    return fitted, weights
