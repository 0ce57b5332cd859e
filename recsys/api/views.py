"""API endpoints: thin views that parse (schemas), call (services, entities, the
recommendations service) and answer. Paths and parameters of the original API are kept
(/health, /movies/{id}, /scores/{user_id}, /recommendations?user_id=&k=,
/similar_movies?movie_id=&k=); the rest is new. Operations are grouped by tag in Swagger UI.

Every input is validated by a schema (400 naming the parameter), unknown ids are 404, a
backing service that is down is 503, and every error is problem+json (:mod:`.errors`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest import abort
from webargs.flaskparser import FlaskParser
from werkzeug.routing import BaseConverter, ValidationError

from recsys import rules
from recsys.api import schemas
from recsys.api.errors import EXAMPLES, PROBLEM_JSON, Problem
from recsys.api.recommendations import NoModelToScore, recommendations
from recsys.api.services import Services
from recsys.entities import (
    DuplicateIdError,
    EntityError,
    Movies,
    NotFoundError,
    Scores,
    Users,
)
from recsys.readmodel.queries import movie_infos
from recsys.readmodel.snapshot import MovieInfo
from recsys.rules import RuleError
from recsys.vectors import clustering, embeddings
from recsys.vectors.base import IndexNotFound, VectorStoreUnavailable


class _Parser(FlaskParser):
    """Invalid input is a client error: 400 (webargs' default is 422)."""

    DEFAULT_VALIDATION_STATUS = 400


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = _Parser()


class IdConverter(BaseConverter):
    """Path ids: digits (the view answers 404 for ids outside the id range)."""

    regex = r"[0-9]+"

    def to_python(self, value: str) -> int:
        if len(value) > 100:  # no id has that many digits (and int() has a length limit)
            raise ValidationError()
        return int(value)

    def to_url(self, value: Any) -> str:
        return str(int(value))


def id_parameter_schema(_converter: Any) -> dict[str, Any]:
    """How path ids are documented."""
    return {"type": "integer", "minimum": rules.MIN_ID, "maximum": rules.MAX_ID}


service = Blueprint("service", __name__, description="Liveness, readiness")
recommend = Blueprint("recommendations", __name__,
                      description="Recommendations and similar movies")
movies = Blueprint("movies", __name__, description="The catalogue")
users = Blueprint("users", __name__, description="Users and their clusters")
scores = Blueprint("scores", __name__, description="Ratings")
BLUEPRINTS = (recommend, movies, users, scores, service)

ERRORS = {400: "invalid or missing parameter (the answer names it)",
          404: "unknown id", 409: "the user already rated this movie",
          413: "request body too large", 415: "the body is not JSON",
          503: "a backing service is down or not ready (the answer says which)"}


def errors(blp: Blueprint, *statuses: int) -> Callable[[Any], Any]:
    """Document problem+json answers for ``statuses`` on an operation."""
    def decorate(func_: Any) -> Any:
        for status in reversed(statuses):
            func_ = blp.alt_response(status, schema=Problem, content_type=PROBLEM_JSON,
                                     description=ERRORS[status],
                                     example=EXAMPLES[status])(func_)
        return func_
    return decorate


def services() -> Services:
    return current_app.extensions["recsys"]


def _require_id(kind: str, value: int) -> int:
    """404 for an id no row can have (outside the database's integer range)."""
    if not rules.MIN_ID <= value <= rules.MAX_ID:
        abort(404, message=f"{kind} {value} does not exist")
    return value


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return rules.as_utc_iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    """Serialise a payload of JSON types, dates and datetimes (with their UTC offset). Tests
    check these answers against the documented schemas; skipping marshmallow keeps a cache
    miss under a millisecond."""
    return Response(json.dumps(payload, default=_default), status=status,
                    mimetype="application/json")


def _cached(key: tuple[Any, ...] | None, build: Callable[[], Response]) -> Response:
    """The cached response for ``key``, built (and kept) when missing; ``key`` None (a read
    the database served): built every time."""
    if key is None:
        return build()
    cache = services().cache
    body = cache.responses.get(key) if cache is not None else None
    if body is None:
        response = build()
        if cache is not None and response.status_code == 200:
            cache.responses.put(key, response.get_data())
        return response
    return Response(body, mimetype="application/json")


def movie_payload(movie_id: int, info: MovieInfo) -> dict[str, Any]:
    """A movie as the API shows it."""
    mean = info.rating_sum / info.ratings if info.ratings else None
    return {"id": movie_id, "title": info.title, "release_date": info.release_date,
            "year": info.year, "imdb_url": info.imdb_url, "genres": info.genres,
            "ratings": info.ratings, "mean_rating": round(mean, 4) if mean is not None else None}


# -- service -------------------------------------------------------------------------------------


@service.route("/ping")
class PingView(MethodView):
    @service.response(200, schemas.Ping)
    def get(self) -> Any:
        """Liveness: the process answers (touches no backing service; see /health)."""
        return {"status": "ok"}


@service.route("/health")
class HealthView(MethodView):
    @service.response(200, schemas.Health)
    @service.alt_response(503, schema=schemas.Health,
                          description="a backing service is down (each part says why)")
    def get(self) -> Any:
        """Readiness: the database, the vector store and the model, each up or down."""
        state = services().health()
        return state, (200 if state["status"] == "ok" else 503)


# -- movies --------------------------------------------------------------------------------------


@movies.route("/movies/<id:movie_id>")
class MovieView(MethodView):
    @movies.response(200, schemas.MovieOut)
    @errors(movies, 404, 503)
    def get(self, movie_id: int) -> Any:
        """One movie, with its genres and its rating count and mean."""
        _require_id("movie", movie_id)
        svc = services()
        svc.catch_up()  # its count and mean include ratings stored through other workers
        found = svc.reads().movie(movie_id)
        if found is None:
            abort(404, message=f"movie {movie_id} does not exist")
            raise AssertionError  # unreachable: abort raises
        info = found.value
        return _cached(found.key, lambda: _json(movie_payload(movie_id, info)))


@movies.route("/movies")
class MovieSearchView(MethodView):
    @movies.arguments(schemas.MovieSearchArgs(), location="query")
    @movies.response(200, schemas.MoviePage)
    @errors(movies, 400, 503)
    def get(self, args: dict[str, Any]) -> Any:
        """Search movies by title, genres (all required) and release years; paged."""
        session = services().session()
        finder = Movies(session)
        filters = {"title": args.get("title"), "genres": args.get("genre"),
                   "year_from": args.get("year_from"), "year_to": args.get("year_to")}
        page, per_page = args["page"], args["per_page"]
        found = finder.find(**filters, limit=per_page, offset=(page - 1) * per_page)
        ids = [int(i) for i in found["id"]]
        infos = movie_infos(session, ids, with_stats=True)
        return _json({"page": page, "per_page": per_page,
                      "total": finder.count_matching(**filters),
                      "movies": [movie_payload(i, infos[i]) for i in ids]})


# -- scores --------------------------------------------------------------------------------------


@scores.route("/scores/<id:user_id>")
class UserScoresView(MethodView):
    @scores.response(200, schemas.UserScores)
    @errors(scores, 404, 503)
    def get(self, user_id: int) -> Any:
        """A user's ratings with their dates (UTC), newest first."""
        _require_id("user", user_id)
        try:
            rows = Scores(services().session()).of_user(user_id)
        except NotFoundError as exc:
            abort(404, message=str(exc))
        return {"user_id": user_id, "count": len(rows), "scores": rows}


@scores.route("/scores")
class NewScoreView(MethodView):
    @scores.arguments(schemas.NewScore())
    @scores.response(201, schemas.ScoreOut)
    @errors(scores, 400, 404, 409, 413, 415, 503)
    def post(self, body: dict[str, Any]) -> Any:
        """Store a new rating; later recommendations leave that movie out."""
        svc = services()
        try:
            svc.rating_scale().check(body["rating"])
        except RuleError as exc:
            abort(400, errors={"json": {"rating": [str(exc)]}}, message=str(exc))
        try:
            stored = Scores(svc.session()).add_rating(body["user_id"], body["movie_id"],
                                                      body["rating"], body.get("rated_at"))
        except NotFoundError as exc:
            abort(404, message=str(exc))
            raise  # unreachable: abort raises
        except DuplicateIdError as exc:
            abort(409, message=str(exc))
            raise
        except EntityError as exc:
            abort(400, message=str(exc))
            raise
        svc.note_write(stored.id, stored.user_id, stored.movie_id, stored.rating)
        return stored.as_dict()


# -- users ---------------------------------------------------------------------------------------


@users.route("/users/<id:user_id>")
class UserView(MethodView):
    @users.response(200, schemas.UserOut)
    @errors(users, 404, 503)
    def get(self, user_id: int) -> Any:
        """A user's profile, rating summary and cluster."""
        _require_id("user", user_id)
        try:
            return Users(services().session()).profile(user_id)
        except NotFoundError as exc:
            abort(404, message=str(exc))


@users.route("/clusters")
class ClustersView(MethodView):
    @users.response(200, schemas.ClusterList)
    @errors(users, 503)
    def get(self) -> Any:
        """User clusters (k-means on user embeddings) with their profiles."""
        return {"clusters": clustering.stored(services().session())}


# -- recommendations -----------------------------------------------------------------------------


@recommend.route("/recommendations")
class RecommendationsView(MethodView):
    @recommend.arguments(schemas.RecommendationArgs(), location="query")
    @recommend.response(200, schemas.Recommendations, example=schemas.RECOMMENDATIONS_EXAMPLE)
    @errors(recommend, 400, 404, 503)
    def get(self, args: dict[str, Any]) -> Any:
        """Top-k movies for a user, each with a reason.

        Stored batch predictions minus movies rated since; live scoring when none are
        stored; a flagged cold-start list for users with no ratings. The list is ordered by
        `score` (will they watch it and like it), not by `predicted_rating` alone."""
        svc = services()
        svc.catch_up()  # a rating stored through another worker is left out at once
        user_id, k = args["user_id"], args["k"]
        reads = svc.reads()
        found = reads.user(user_id)
        if found is None:
            abort(404, message=f"user {user_id} does not exist")
            raise AssertionError  # unreachable: abort raises
        user = found.value

        def build() -> Response:
            # the read model's catalogue is the whole of it; the database path looks up
            try:
                return _json(recommendations(user.rows(), user_id, k, svc.model,
                                             svc.explainer, user.catalogue, reads.movies,
                                             complete=bool(user.catalogue)))
            except NoModelToScore as exc:
                abort(503, message=str(exc))
                raise  # unreachable: abort raises

        key = ("recommendations", k, *found.key) if found.key is not None else None
        return _cached(key, build)


@recommend.route("/similar_movies")
class SimilarMoviesView(MethodView):
    @recommend.arguments(schemas.SimilarArgs(), location="query")
    @recommend.response(200, schemas.SimilarMovies)
    @errors(recommend, 400, 404, 503)
    def get(self, args: dict[str, Any]) -> Any:
        """Movies closest to a movie in the vector store (never the movie itself)."""
        svc = services()
        movie_id, k, kind = args["movie_id"], args["k"], args["kind"]
        reads = svc.reads()
        title = reads.title(movie_id)
        if title is None:
            abort(404, message=f"movie {movie_id} does not exist")

        def build() -> Response:
            try:
                records = embeddings.similar_records(svc.store, movie_id, k, kind,
                                                     exists=reads.existing)
            except VectorStoreUnavailable:
                abort(503, message="the vector store is unavailable; try again shortly")
            except IndexNotFound:
                abort(503, message=f"no {kind} vectors indexed yet: run `recsys index`"
                      + (" after `recsys train`" if kind == "learned" else ""))
            except embeddings.MovieNotIndexed:
                abort(503, message=f"movie {movie_id} is not in the {kind} index yet: re-run "
                                   "`recsys index`")
            return _json({"movie_id": movie_id, "title": title, "kind": kind,
                          "similar": records})

        store_key = svc.cache.store_key if svc.cache else None
        return _cached(("similar", movie_id, k, kind, store_key), build)
