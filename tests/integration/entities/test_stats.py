"""Statistics (tables and figures) on SQLite and on a real PostgreSQL 15."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure
from sqlalchemy import Engine

from recsys import datasets, db
from recsys.entities import Entities, NotFoundError, stats


@pytest.fixture
def ent(loaded: Engine):
    session = db.session_factory(loaded)()
    yield Entities(session)
    session.rollback()
    session.close()


def test_stats_are_tables_and_figures_consistent_with_the_data(
        ent: Entities, synthetic: datasets.Dataset) -> None:
    session = ent.session
    found = {
        "oldest_newest": stats.movies_oldest_and_newest(session),
        "per_year": stats.movies_per_year(session),
        "per_genre": stats.movies_per_genre(session),
        "persons": stats.persons_by_birth_band_and_gender(session),
        "occupation": stats.users_by_occupation(session),
        "position": stats.workers_by_position(session),
        "category": stats.workers_by_category(session),
        "hours": stats.workers_by_working_hours(session),
        "user_year": stats.user_rating_by_year(session, 1),
        "user_genre": stats.user_rating_by_genre(session, 1),
        "gender": stats.rating_by_gender(session),
        "band": stats.rating_by_birth_band(session),
        "occupation_rating": stats.rating_by_occupation(session),
        "position_rating": stats.rating_by_position(session),
        "genre_rating": stats.rating_by_genre(session),
        "distribution": stats.rating_distribution(session),
    }
    for name, stat in found.items():
        assert isinstance(stat.table, pd.DataFrame) and not stat.table.empty, name
        assert isinstance(stat.figure, Figure), name
    movies, scores = synthetic.movies, synthetic.scores
    oldest = found["oldest_newest"].table.set_index("which")
    assert oldest.loc["oldest", "id"] == movies.sort_values(["release_date", "id"])["id"].iloc[0]
    assert found["per_year"].table["movies"].sum() == len(movies)
    assert found["per_genre"].table["movies"].sum() == movies["genres"].map(len).sum()
    assert found["persons"].table[["F", "M"]].to_numpy().sum() == len(synthetic.persons)
    assert found["occupation"].table["users"].sum() == len(synthetic.users)
    assert found["hours"].table["workers"].sum() == len(synthetic.workers)
    by_gender = scores.merge(synthetic.persons, left_on="user_id", right_on="id")
    expected = by_gender.groupby("gender")["rating"].mean()
    got = found["gender"].table.set_index("gender")["mean_rating"]
    assert got.to_dict() == expected.round(2).to_dict()  # shown to 2 decimals
    user1 = scores[scores["user_id"] == 1]
    assert found["user_year"].table["ratings"].sum() == len(user1)
    assert found["band"].table["ratings"].sum() == len(scores)
    filtered = stats.movies_per_genre(session, year_from=1960, genres=["Drama"])
    assert set(filtered.table["genre"]) <= {"Drama", *datasets.GENRES}
    assert found["distribution"].table["ratings"].sum() == len(scores)
    genre = found["genre_rating"].table
    assert genre["mean_rating"].is_monotonic_decreasing and genre["ratings"].min() > 0
    with pytest.raises(NotFoundError):
        stats.user_rating_by_genre(session, 424242)
