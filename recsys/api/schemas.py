"""Request and response schemas: the single source of validation and of the OpenAPI document."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

class RecommendationArgs(Schema):
    user_id = fields.Integer(required=True, validate=validate.Range(min=1),
                             metadata={"description": "user id", "example": 1})
    k = fields.Integer(required=True, validate=validate.Range(min=1, max=100),
                       metadata={"description": "how many movies (1-100)", "example": 10})


class SimilarArgs(Schema):
    movie_id = fields.Integer(required=True, validate=validate.Range(min=1),
                              metadata={"description": "movie id", "example": 50})
    k = fields.Integer(required=True, validate=validate.Range(min=1, max=100),
                       metadata={"description": "how many movies (1-100)", "example": 10})
    kind = fields.String(load_default="learned",
                         validate=validate.OneOf(["learned", "content"]),
                         metadata={"description": "learned (model) or content (genres, year) "
                                                  "vectors"})


class MovieSearchArgs(Schema):
    title = fields.String(validate=validate.Length(min=1, max=200),
                          metadata={"description": "case-insensitive part of the title"})
    genre = fields.List(fields.String(), metadata={
        "description": "genre the movie must have (repeat for several: all required)"})
    year_from = fields.Integer(validate=validate.Range(min=1800, max=2100))
    year_to = fields.Integer(validate=validate.Range(min=1800, max=2100))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class NewScore(Schema):
    user_id = fields.Integer(required=True, validate=validate.Range(min=1))
    movie_id = fields.Integer(required=True, validate=validate.Range(min=1))
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5),
                            metadata={"description": "whole number from 1 to 5"})
    rated_at = fields.DateTime(metadata={"description": "when (default: now)"})


class MovieOut(Schema):
    id = fields.Integer()
    title = fields.String()
    release_date = fields.Date(allow_none=True)
    year = fields.Integer(allow_none=True)
    imdb_url = fields.String(allow_none=True)
    genres = fields.List(fields.String())
    ratings = fields.Integer(metadata={"description": "number of ratings"})
    mean_rating = fields.Float(allow_none=True)


class MoviePage(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    movies = fields.List(fields.Nested(MovieOut))


class ScoreOut(Schema):
    id = fields.Integer()
    user_id = fields.Integer()
    movie_id = fields.Integer()
    title = fields.String()
    rating = fields.Integer()
    rated_at = fields.DateTime()


class UserScores(Schema):
    user_id = fields.Integer()
    count = fields.Integer()
    scores = fields.List(fields.Nested(ScoreOut))


class Reason(Schema):
    text = fields.String()
    because_movie_id = fields.Integer(allow_none=True)
    similarity = fields.Float(allow_none=True)


class RecommendedMovie(Schema):
    rank = fields.Integer()
    movie_id = fields.Integer()
    title = fields.String()
    year = fields.Integer(allow_none=True)
    genres = fields.List(fields.String())
    predicted_rating = fields.Float()
    score = fields.Float()
    reason = fields.Nested(Reason)


class Recommendations(Schema):
    user_id = fields.Integer()
    k = fields.Integer()
    source = fields.String(metadata={"description": "stored (batch predictions), live (scored "
                                                    "now by the model) or cold_start"})
    cold_start = fields.Boolean()
    model_version = fields.String(allow_none=True)
    recommendations = fields.List(fields.Nested(RecommendedMovie))


class SimilarMovie(Schema):
    rank = fields.Integer()
    movie_id = fields.Integer()
    title = fields.String()
    year = fields.Integer(allow_none=True)
    genres = fields.List(fields.String())
    similarity = fields.Float()


class SimilarMovies(Schema):
    movie_id = fields.Integer()
    title = fields.String()
    kind = fields.String()
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
    id = fields.Integer()
    full_name = fields.String()
    birth_year = fields.Integer()
    gender = fields.String()
    zip_code = fields.String()
    occupation = fields.String()
    active_since = fields.DateTime()
    position = fields.String(allow_none=True)
    ratings = fields.Integer()
    mean_rating = fields.Float(allow_none=True)
    cluster = fields.Nested(ClusterRef, allow_none=True)


class Ping(Schema):
    status = fields.String()


class Health(Schema):
    status = fields.String()
    database = fields.Dict()
    vector_store = fields.Dict()
    model = fields.Dict()
