"""Why a movie is recommended (recsys/predictions/explain.py): a reason that is true for the
user asked about."""

from __future__ import annotations

from typing import Any

from recsys import datasets
from recsys.predictions import explain


def test_a_user_with_a_profile_and_a_user_with_none_get_their_own_cold_start_reason(
        api_data: datasets.Dataset, api_model: Any) -> None:
    profiled = explain.explained(api_model, api_data, 500, k=3)  # a user who rated nothing
    assert set(profiled["why"]) == {explain.COLD}
    unknown = explain.explained(api_model, api_data, 99999, k=3)  # no such user
    assert len(unknown) == 3 and set(unknown["why"]) == {explain.NO_PROFILE}
    assert "your profile" not in explain.NO_PROFILE


def test_a_user_with_ratings_gets_a_movie_they_rated_as_the_reason(
        api_data: datasets.Dataset, api_model: Any) -> None:
    user = int(api_data.scores["user_id"].iloc[0])
    rated = set(api_data.movies.set_index("id").loc[
        api_data.scores.loc[api_data.scores["user_id"] == user, "movie_id"], "title"])
    reasons = explain.explained(api_model, api_data, user, k=5)["why"]
    assert all(r.startswith("because you rated ") or r == explain.POPULAR for r in reasons)
    assert any(any(title in r for title in rated) for r in reasons)
