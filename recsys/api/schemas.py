"""Request and response schemas: the single source of validation and of the OpenAPI document.

Input rules come from :mod:`recsys.rules` (id range, rating scale, time range, no control
characters), so the API refuses exactly what the CSV validator and the entity layer refuse.
Date-times leave the API in ISO 8601 with an explicit offset (UTC).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from recsys import rules
from recsys.api.errors import Problem

__all__ = ["Problem"]

K_HELP = "how many movies (1-100, default 10)"


def _no_control(value: str) -> None:
    if rules.CONTROL_CHARS_RE.search(value):
        raise ValidationError(f"text {rules.CONTROL_CHARS_MESSAGE}")


#: The control-character rule as the OpenAPI document states it (a JSON Schema pattern: any
#: character but the refused control characters), so a request valid by the document is
#: never refused for one.
NO_CONTROL_PATTERN = "^[^" + rules.CONTROL_CHARS_RE.pattern[1:-1] + "]*$"


def _rated_at_pattern() -> str:
    """ISO 8601 date-times the time rule accepts whatever the day: years from the one after
    the earliest (an offset of up to 14 hours cannot move them before it) to last year,
    days 01-28 of any month (valid in every month), an optional offset. The rule accepts
    more (up to one day from now); this is what the document can promise forever."""
    first, last = rules.EARLIEST_TIMESTAMP.year + 1, dt.date.today().year - 1
    years = "|".join(str(year) for year in range(first, last + 1))
    return (rf"^({years})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
            r"T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
            r"(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])?$")


def _id(description: str, example: int, **kwargs: Any) -> fields.Integer:
    return fields.Integer(validate=validate.Range(min=rules.MIN_ID, max=rules.MAX_ID),
                          metadata={"description": f"{description} "
                                                   f"({rules.MIN_ID}-{rules.MAX_ID})",
                                    "example": example}, **kwargs)


class UTCDateTime(fields.DateTime):
    """A stored (naive UTC) date-time written as ISO 8601 with its offset."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, dt.datetime):
            value = rules.to_utc(value)
        return super()._serialize(value, attr, obj, **kwargs)


class Instant(fields.String):
    """An ISO 8601 date-time read by the system's time rule: an offset is converted to UTC,
    no offset means UTC, and the instant must lie in the accepted range. Loads as naive UTC
    (how the database stores it). Documented as a string with a pattern (a ``date-time``
    format cannot say the range)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError("not a date-time: send an ISO 8601 string")
        try:
            return rules.check_timestamp(value, attr or "rated_at")
        except rules.RuleError as exc:
            raise ValidationError(str(exc)) from None


# -- requests --------------------------------------------------------------------------------


class RecommendationArgs(Schema):
    user_id = _id("user id", 1, required=True)
    k = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100),
                       metadata={"description": K_HELP, "example": 10})


class SimilarArgs(Schema):
    movie_id = _id("movie id", 50, required=True)
    k = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100),
                       metadata={"description": K_HELP, "example": 10})
    kind = fields.String(load_default="learned",
                         validate=validate.OneOf(["learned", "content"]),
                         metadata={"description": "learned (model) or content (genres, year) "
                                                  "vectors", "example": "learned"})


class MovieSearchArgs(Schema):
    title = fields.String(validate=[validate.Length(min=1, max=200), _no_control],
                          metadata={"description": "case-insensitive part of the title "
                                                   "(no control characters)",
                                    "example": "star", "pattern": NO_CONTROL_PATTERN})
    genre = fields.List(fields.String(validate=[validate.Length(min=1, max=50), _no_control],
                                      metadata={"pattern": NO_CONTROL_PATTERN}),
                        metadata={"description": "genre the movie must have (repeat for "
                                                 "several: all required)",
                                  "example": ["Sci-Fi"]})
    year_from = fields.Integer(validate=validate.Range(min=1800, max=2100),
                               metadata={"example": 1977})
    year_to = fields.Integer(validate=validate.Range(min=1800, max=2100),
                             metadata={"example": 1999})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000),
                          metadata={"example": 1})
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100),
                              metadata={"example": 20})


class RatingValue(fields.Number):
    """A JSON number (never a string or a boolean) within the widest scale, 0.5..5; whether
    it lies on the dataset's own scale is checked by the view (see /health)."""

    num_type = float

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("Not a valid number.")
        if not rules.HALF_STARS.low <= value <= rules.HALF_STARS.high:
            raise ValidationError(f"Must be greater than or equal to {rules.HALF_STARS.low:g} "
                                  f"and less than or equal to {rules.HALF_STARS.high:g}.")
        return value

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return int(value) if float(value).is_integer() else float(value)


class NewScore(Schema):
    user_id = _id("user id", 1, required=True, strict=True)
    movie_id = _id("movie id", 1682, required=True, strict=True)
    rating = RatingValue(required=True, metadata={
        "description": "on the dataset's scale (GET /health: rating_scale): whole stars 1-5 "
                       "for the course data and MovieLens 100K/1M, half stars 0.5-5 for "
                       "MovieLens 10M and later",
        "example": 4})
    rated_at = Instant(metadata={
        "description": "when, ISO 8601 (default: now); an offset is converted to UTC, none "
                       f"means UTC; from {rules.EARLIEST_TIMESTAMP:%Y-%m-%d} to one day from "
                       "now (the pattern states the part of that range valid on any day)",
        "example": "1998-04-01T12:00:00+00:00", "pattern": _rated_at_pattern()})


# -- responses -------------------------------------------------------------------------------


class MovieOut(Schema):
    id = fields.Integer(metadata={"example": 50})
    title = fields.String(metadata={"example": "Star Wars (1977)"})
    release_date = fields.Date(allow_none=True, metadata={"example": "1977-01-01"})
    year = fields.Integer(allow_none=True, metadata={
        "description": "year in the title (first release), else of the release date",
        "example": 1977})
    imdb_url = fields.String(allow_none=True)
    genres = fields.List(fields.String(), metadata={
        "example": ["Action", "Adventure", "Romance", "Sci-Fi", "War"]})
    ratings = fields.Integer(metadata={"description": "number of ratings", "example": 583})
    mean_rating = fields.Float(allow_none=True, metadata={"example": 4.3585})


class MoviePage(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    movies = fields.List(fields.Nested(MovieOut))


class ScoreOut(Schema):
    id = fields.Integer(metadata={"example": 100001})
    user_id = fields.Integer(metadata={"example": 1})
    movie_id = fields.Integer(metadata={"example": 1682})
    title = fields.String(metadata={"example": "Scream of Stone (Schrei aus Stein) (1991)"})
    rating = RatingValue(metadata={"example": 4})
    rated_at = UTCDateTime(metadata={"example": "1998-04-01T12:00:00+00:00"})


class UserScores(Schema):
    user_id = fields.Integer()
    count = fields.Integer()
    scores = fields.List(fields.Nested(ScoreOut))


class Reason(Schema):
    text = fields.String(metadata={"example": "because you rated Star Wars (1977) 5/5 "
                                              "(similarity 0.82)"})
    because_movie_id = fields.Integer(allow_none=True, metadata={"example": 50})
    similarity = fields.Float(allow_none=True, metadata={"example": 0.82})


class RecommendedMovie(Schema):
    rank = fields.Integer(metadata={"example": 1})
    movie_id = fields.Integer(metadata={"example": 172})
    title = fields.String(metadata={"example": "Empire Strikes Back, The (1980)"})
    year = fields.Integer(allow_none=True, metadata={"example": 1980})
    genres = fields.List(fields.String(), metadata={"example": ["Action", "Sci-Fi"]})
    predicted_rating = fields.Float(metadata={"description": "the rating the model expects "
                                                             "(1-5)", "example": 4.41})
    score = fields.Float(metadata={"description": "ranking score (what the list is ordered "
                                                  "by: will they watch it and like it)",
                                   "example": 2.87})
    reason = fields.Nested(Reason)


class Recommendations(Schema):
    user_id = fields.Integer(metadata={"example": 1})
    k = fields.Integer(metadata={"example": 10})
    source = fields.String(metadata={"description": "stored (batch predictions), live (scored "
                                                    "now by the model), stored+live or "
                                                    "cold_start", "example": "stored"})
    cold_start = fields.Boolean(metadata={"example": False})
    model_version = fields.String(allow_none=True,
                                  metadata={"example": "20261126T201500-1a2b3c4d"})
    recommendations = fields.List(fields.Nested(RecommendedMovie))


#: What ``GET /recommendations?user_id=1&k=2`` answered on the course data with the default
#: model (movies user 1 has not rated, their genres as the catalogue lists them);
#: tests/integration/api/test_openapi.py checks it against the course CSVs.
RECOMMENDATIONS_EXAMPLE: dict[str, Any] = {
    "user_id": 1, "k": 2, "source": "stored", "cold_start": False,
    "model_version": "20261130T172750-2a2d7577",
    "recommendations": [
        {"rank": 1, "movie_id": 475, "title": "Trainspotting (1996)", "year": 1996,
         "genres": ["Drama"], "predicted_rating": 4.7866, "score": 6.668203,
         "reason": {"text": "because you rated Brazil (1985) 5/5 (similarity 0.68)",
                    "because_movie_id": 175, "similarity": 0.6766}},
        {"rank": 2, "movie_id": 357, "title": "One Flew Over the Cuckoo's Nest (1975)",
         "year": 1975, "genres": ["Drama"], "predicted_rating": 4.3634, "score": 6.021829,
         "reason": {"text": "because you rated Amadeus (1984) 5/5 (similarity 0.63)",
                    "because_movie_id": 191, "similarity": 0.6315}},
    ],
}


class SimilarMovie(Schema):
    rank = fields.Integer(metadata={"example": 1})
    movie_id = fields.Integer(metadata={"example": 181})
    title = fields.String(metadata={"example": "Return of the Jedi (1983)"})
    year = fields.Integer(allow_none=True, metadata={"example": 1983})
    genres = fields.List(fields.String(), metadata={"example": ["Action", "Sci-Fi"]})
    similarity = fields.Float(metadata={"description": "cosine similarity (-1 to 1)",
                                        "example": 0.91})


class SimilarMovies(Schema):
    movie_id = fields.Integer(metadata={"example": 50})
    title = fields.String(metadata={"example": "Star Wars (1977)"})
    kind = fields.String(metadata={"example": "learned"})
    similar = fields.List(fields.Nested(SimilarMovie))


class ClusterOut(Schema):
    id = fields.Integer()
    size = fields.Integer()
    description = fields.String()
    profile = fields.Dict()
    model_version = fields.String()


class ClusterList(Schema):
    clusters = fields.List(fields.Nested(ClusterOut))


class ClusterRef(Schema):
    id = fields.Integer()
    description = fields.String()


class UserOut(Schema):
    id = fields.Integer(metadata={"example": 1})
    full_name = fields.String(metadata={"example": "Robert Stanley"})
    birth_year = fields.Integer(metadata={"example": 1974})
    gender = fields.String(metadata={"example": "M"})
    zip_code = fields.String(metadata={"example": "85711"})
    occupation = fields.String(metadata={"example": "technician"})
    active_since = UTCDateTime(metadata={"example": "1997-09-22T21:57:58+00:00"})
    position = fields.String(allow_none=True, metadata={"example": None})
    ratings = fields.Integer(metadata={"example": 272})
    mean_rating = fields.Float(allow_none=True, metadata={"example": 3.6103})
    cluster = fields.Nested(ClusterRef, allow_none=True)


class Ping(Schema):
    status = fields.String(metadata={"example": "ok"})


class Health(Schema):
    status = fields.String(metadata={"description": "ok when every part is up, else degraded",
                                     "example": "ok"})
    database = fields.Dict(metadata={"example": {
        "status": "up", "dialect": "sqlite", "movies": 1682, "dataset": "course",
        "rating_scale": {"name": "stars", "low": 1.0, "high": 5.0, "step": 1.0}}})
    vector_store = fields.Dict(metadata={"example": {"status": "up", "backend": "local"}})
    model = fields.Dict(metadata={"example": {"status": "up",
                                              "version": "20261126T201500-1a2b3c4d"}})
