"""API endpoints. Paths and parameters of the original API are kept (/health, /movies/{id},
/scores/{user_id}, /recommendations?user_id=&k=, /similar_movies?movie_id=&k=); the rest is
new. Every input is validated by a schema (400 naming the parameter), unknown ids are 404,
and a backing service that is down is 503."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from flask import Response, current_app, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest import abort
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from webargs.flaskparser import FlaskParser

from recsys import embeddings
from recsys.api import schemas
from recsys.api.serving import Snapshot, movie_infos, user_snapshot
from recsys.api.services import Services
from recsys.entities import DuplicateIdError, EntityError, Movies, Scores
from recsys.schema import (
    Cluster,
    Movie,
    Person,
    Score,
    User,
    UserCluster,
    Worker,
)
from recsys.vectors.base import IndexNotFound, VectorStoreUnavailable


class _Parser(FlaskParser):
    """Invalid input is a client error: 400 (webargs' default is 422)."""

    DEFAULT_VALIDATION_STATUS = 400


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = _Parser()


api = Blueprint("recsys", __name__, description="Movie recommendations")

# schema instances reused by the cached endpoints (marshmallow dumping is thread-safe)
MOVIE, RECOMMENDATIONS, SIMILAR = (schemas.MovieOut(), schemas.Recommendations(),
                                   schemas.SimilarMovies())


def services() -> Services:
    return current_app.extensions["recsys"]


def _movie_dict(movie: Movie, ratings: int, mean: float | None) -> dict[str, Any]:
    return {"id": movie.id, "title": movie.title, "release_date": movie.release_date,
            "year": movie.release_date.year if movie.release_date else None,
            "imdb_url": movie.imdb_url, "genres": [g.name for g in movie.genres],
            "ratings": ratings, "mean_rating": round(mean, 4) if mean is not None else None}


@api.route("/ping")
class PingView(MethodView):
    @api.response(200, schemas.Ping)
    def get(self) -> Any:
        """Liveness: the process answers (touches no backing service; see /health)."""
        return {"status": "ok"}


@api.route("/health")
class HealthView(MethodView):
    @api.response(200, schemas.Health)
    @api.alt_response(503, schema=schemas.Health, description="a backing service is down")
    def get(self) -> Any:
        """State of the database, the vector store and the model."""
        state = services().health()
        return state, (200 if state["status"] == "ok" else 503)


def _movie_payload(movie_id: int, info: Any) -> dict[str, Any]:
    mean = info.rating_sum / info.ratings if info.ratings else None
    return {"id": movie_id, "title": info.title, "release_date": info.release_date,
            "year": info.year, "imdb_url": info.imdb_url, "genres": info.genres,
            "ratings": info.ratings, "mean_rating": round(mean, 4) if mean is not None else None}


def _iso(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _json(schema: Any, payload: dict[str, Any], status: int = 200) -> Response:
    """Serialise a payload already made of JSON types (dates as ISO strings, as the schema's
    Date fields do); tests check the result against ``schema`` (kept for that and the docs).
    Skipping marshmallow here keeps a cache miss under a millisecond."""
    return Response(json.dumps(payload, default=_iso), status=status,
                    mimetype="application/json")


def _cached(key: tuple[Any, ...], build: Any) -> Response:
    """The cached response for ``key``, built (and kept) when missing."""
    cache = services().cache
    body = cache.responses.get(key) if cache is not None else None
    if body is None:
        response = build()
        if cache is not None and response.status_code == 200:
            cache.responses.put(key, response.get_data())
        return response
    return Response(body, mimetype="application/json")


@api.route("/movies/<int:movie_id>")
class MovieView(MethodView):
    @api.response(200, schemas.MovieOut)
    @api.alt_response(404, description="unknown movie")
    def get(self, movie_id: int) -> Any:
        """One movie, with its genres and rating count and mean."""
        svc = services()
        snap = svc.cache.snapshot if svc.cache else None
        if snap is not None and movie_id in snap.movies:
            return _cached(("movie", movie_id),
                           lambda: _json(MOVIE,
                                         _movie_payload(movie_id, snap.movies[movie_id])))
        infos = movie_infos(svc.session(), [movie_id], with_stats=True)
        if movie_id not in infos:
            abort(404, message=f"movie {movie_id} does not exist")
        return _movie_payload(movie_id, infos[movie_id])


@api.route("/movies")
class MovieSearchView(MethodView):
    @api.arguments(schemas.MovieSearchArgs(), location="query")
    @api.response(200, schemas.MoviePage)
    def get(self, args: dict[str, Any]) -> Any:
        """Search movies by title, genres (all required), release years; paged."""
        session = services().session()
        movies = Movies(session)
        filters = {"title": args.get("title"), "genres": args.get("genre"),
                   "year_from": args.get("year_from"), "year_to": args.get("year_to")}
        total = movies.count_matching(**filters)
        page, per_page = args["page"], args["per_page"]
        found = movies.find(**filters, limit=per_page, offset=(page - 1) * per_page)
        stats = dict(session.execute(
            select(Score.movie_id, func.count(Score.id))
            .where(Score.movie_id.in_(found["id"].tolist())).group_by(Score.movie_id)).all())
        means = dict(session.execute(
            select(Score.movie_id, func.avg(Score.rating))
            .where(Score.movie_id.in_(found["id"].tolist())).group_by(Score.movie_id)).all())
        out = []
        for row in found.itertuples(index=False):
            date = row.release_date
            out.append({"id": int(row.id), "title": row.title, "release_date": date,
                        "year": date.year if date else None, "imdb_url": row.imdb_url,
                        "genres": list(row.genres), "ratings": int(stats.get(row.id, 0)),
                        "mean_rating": round(float(means[row.id]), 4) if row.id in means
                        else None})
        return {"page": page, "per_page": per_page, "total": total, "movies": out}


@api.route("/scores/<int:user_id>")
class UserScoresView(MethodView):
    @api.response(200, schemas.UserScores)
    @api.alt_response(404, description="unknown user")
    def get(self, user_id: int) -> Any:
        """A user's ratings with their dates, newest first."""
        session = services().session()
        if session.get(User, user_id) is None:
            abort(404, message=f"user {user_id} does not exist")
        rows = session.execute(
            select(Score.id, Score.user_id, Score.movie_id, Movie.title, Score.rating,
                   Score.rated_at).join(Movie, Movie.id == Score.movie_id)
            .where(Score.user_id == user_id).order_by(Score.rated_at.desc(), Score.id)).all()
        return {"user_id": user_id, "count": len(rows),
                "scores": [dict(r._mapping) for r in rows]}


@api.route("/scores")
class NewScoreView(MethodView):
    @api.arguments(schemas.NewScore())
    @api.response(201, schemas.ScoreOut)
    @api.alt_response(404, description="unknown user or movie")
    @api.alt_response(409, description="the user already rated this movie")
    def post(self, body: dict[str, Any]) -> Any:
        """Store a new rating; later recommendations leave that movie out."""
        svc = services()
        session = svc.session()
        if session.get(User, body["user_id"]) is None:
            abort(404, message=f"user_id {body['user_id']} does not exist")
        movie = session.get(Movie, body["movie_id"])
        if movie is None:
            abort(404, message=f"movie_id {body['movie_id']} does not exist")
        try:
            score_id = Scores(session).add(body["user_id"], body["movie_id"], body["rating"],
                                           body.get("rated_at"))
            session.commit()
        except DuplicateIdError:
            session.rollback()
            abort(409, message=f"user {body['user_id']} already rated movie "
                               f"{body['movie_id']}")
        except IntegrityError:
            session.rollback()  # a concurrent request took the same id or pair
            abort(409, message="the rating conflicts with one stored at the same time; retry")
        except EntityError as exc:
            session.rollback()
            abort(400, message=str(exc))
        stored = session.get(Score, score_id)
        if svc.cache is not None:
            svc.cache.note_score(stored.user_id, stored.movie_id, stored.rating)
        return {"id": stored.id, "user_id": stored.user_id, "movie_id": stored.movie_id,
                "title": movie.title, "rating": stored.rating, "rated_at": stored.rated_at}


@api.route("/users/<int:user_id>")
class UserView(MethodView):
    @api.response(200, schemas.UserOut)
    @api.alt_response(404, description="unknown user")
    def get(self, user_id: int) -> Any:
        """A user's profile, rating summary and cluster."""
        session = services().session()
        row = session.execute(select(User, Person).join(Person, Person.id == User.id)
                              .where(User.id == user_id)).one_or_none()
        if row is None:
            abort(404, message=f"user {user_id} does not exist")
        user, person = row
        worker = session.get(Worker, user_id)
        count, mean = session.execute(select(func.count(Score.id), func.avg(Score.rating))
                                      .where(Score.user_id == user_id)).one()
        cluster = session.execute(select(Cluster.id, Cluster.description)
                                  .join(UserCluster, UserCluster.cluster_id == Cluster.id)
                                  .where(UserCluster.user_id == user_id)).one_or_none()
        return {"id": user.id, "full_name": person.full_name, "birth_year": person.birth_year,
                "gender": person.gender, "zip_code": person.zip_code,
                "occupation": user.occupation, "active_since": user.active_since,
                "position": worker.position if worker else None, "ratings": int(count),
                "mean_rating": round(float(mean), 4) if mean is not None else None,
                "cluster": dict(cluster._mapping) if cluster else None}


@api.route("/clusters")
class ClustersView(MethodView):
    @api.response(200, schemas.ClusterList)
    def get(self) -> Any:
        """User clusters (k-means on user embeddings) with their profiles."""
        rows = services().session().execute(select(Cluster).order_by(Cluster.id)).scalars()
        return {"clusters": [{"id": c.id, "size": c.size, "description": c.description,
                              "profile": json.loads(c.profile),
                              "model_version": c.model_version} for c in rows]}


def _recommendations(svc: Services, snap: Snapshot, user_id: int, k: int,
                     movies: dict[int, Any] | None = None) -> dict[str, Any]:
    """The /recommendations payload from a snapshot (whole database or one user)."""
    rated = snap.rated.get(user_id, set())
    stored = [p for p in snap.predictions.get(user_id, []) if p[0] not in rated][:k]
    picks = [(m, rating, score) for m, rating, score, _ in stored]
    version = stored[0][3] if stored else None
    cold = not rated
    source = "stored"
    if len(picks) < k:
        if svc.model is None:
            if not picks:
                abort(503, message="no stored predictions for this user and no trained model "
                                   "to score live: run `recsys train` and `recsys predict`")
        else:
            live = svc.model.recommend(user_id, k=k, exclude=list(rated)
                                       + [p[0] for p in picks])
            picks += [(int(r.movie_id), float(r.predicted_rating), float(r.score))
                      for r in live.itertuples()][: k - len(picks)]
            version = version or svc.model.version
            source = "cold_start" if cold else ("live" if not stored else "stored+live")
    if movies is None:
        movies = snap.movies
    missing = [m for m, _, _ in picks if m not in movies]
    if missing:
        movies = {**movies, **movie_infos(svc.session(), missing)}
    ids = [m for m, _, _ in picks]
    if cold:
        reasons = [{"text": "popular with many users and a good fit for your profile",
                    "because_movie_id": None, "similarity": None} for _ in ids]
    else:
        titles = {m: movies[m].title for m, _ in snap.liked.get(user_id, []) if m in movies}
        if len(titles) < len(snap.liked.get(user_id, [])):
            liked_ids = [m for m, _ in snap.liked.get(user_id, [])]
            titles = {m: i.title for m, i in movie_infos(svc.session(), liked_ids).items()}
        reasons = svc.reasons(snap.liked.get(user_id, []), ids, titles)
    return {"user_id": user_id, "k": k, "source": source, "cold_start": cold,
            "model_version": version,
            "recommendations": [
                {"rank": i + 1, "movie_id": m, "title": movies[m].title, "year": movies[m].year,
                 "genres": movies[m].genres, "predicted_rating": round(float(rating), 4),
                 "score": round(float(score), 6) if np.isfinite(score) else 0.0,
                 "reason": reason}
                for i, ((m, rating, score), reason) in enumerate(zip(picks, reasons))]}


@api.route("/recommendations")
class RecommendationsView(MethodView):
    @api.arguments(schemas.RecommendationArgs(), location="query")
    @api.response(200, schemas.Recommendations)
    @api.alt_response(404, description="unknown user")
    @api.alt_response(503, description="no stored predictions and no model to score live")
    def get(self, args: dict[str, Any]) -> Any:
        """Top-k movies for a user: stored batch predictions, minus movies rated since; live
        scoring when none are stored; a flagged cold-start list for users with no ratings.
        Every movie carries a reason: the user's highly rated movie most similar to it."""
        svc = services()
        user_id, k = args["user_id"], args["k"]
        snap = svc.cache.snapshot if svc.cache else None
        if snap is not None and user_id in snap.users:
            return _cached(("recommendations", user_id, k),
                           lambda: _json(RECOMMENDATIONS,
                                         _recommendations(svc, snap, user_id, k)))
        one = user_snapshot(svc.session(), user_id)
        if user_id not in one.users:
            abort(404, message=f"user {user_id} does not exist")
        return _recommendations(svc, one, user_id, k, movies={})


@api.route("/similar_movies")
class SimilarMoviesView(MethodView):
    @api.arguments(schemas.SimilarArgs(), location="query")
    @api.response(200, schemas.SimilarMovies)
    @api.alt_response(404, description="unknown movie")
    @api.alt_response(503, description="the vector store is down or not indexed")
    def get(self, args: dict[str, Any]) -> Any:
        """Movies closest to a movie in the vector store (never the movie itself)."""
        svc = services()
        movie_id, k, kind = args["movie_id"], args["k"], args["kind"]
        snap = svc.cache.snapshot if svc.cache else None
        if snap is not None and movie_id in snap.movies:
            title = snap.movies[movie_id].title
        else:
            infos = movie_infos(svc.session(), [movie_id])
            if movie_id not in infos:
                abort(404, message=f"movie {movie_id} does not exist")
            title = infos[movie_id].title

        def build() -> Response:
            try:
                records = embeddings.similar_records(svc.store, movie_id, k, kind)
            except (VectorStoreUnavailable, IndexNotFound) as exc:
                abort(503, message=f"vector store unavailable: {exc}")
            except embeddings.MovieNotIndexed as exc:
                abort(503, message=f"{exc}: re-run `recsys index`")
            return _json(SIMILAR, {"movie_id": movie_id, "title": title, "kind": kind,
                                   "similar": records})

        return _cached(("similar", movie_id, k, kind), build)


def register_error_handlers(app: Any) -> None:
    """Database or store outages become 503 with a JSON body, never a hanging request."""
    from sqlalchemy.exc import DBAPIError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    def unavailable(exc: Exception) -> Any:
        response = jsonify({"code": 503, "status": "Service Unavailable",
                            "message": f"a backing service is unavailable ({type(exc).__name__})"})
        response.status_code = 503
        return response

    for error in (OperationalError, PoolTimeout, VectorStoreUnavailable):
        app.register_error_handler(error, unavailable)
    app.register_error_handler(DBAPIError, unavailable)
