"""Entity operations (add, find, remove, stats) on SQLite and on a real PostgreSQL 15."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session

from recsys import datasets, db
from recsys.db.schema import Prediction, Score
from recsys.entities import (
    DuplicateIdError,
    Entities,
    EntityError,
    HasDependentsError,
    MismatchError,
    NotFoundError,
)

INJECTIONS = ["Schindler's List", "'); DROP TABLE movies;--", "%", "_", "\\", '" OR 1=1 --']


@pytest.fixture
def session(loaded: Engine) -> Iterator[Session]:
    with db.session_scope(loaded) as s:
        yield s


@pytest.fixture
def ent(session: Session) -> Entities:
    return Entities(session)


def test_add_uses_max_plus_one_and_refuses_existing_ids(ent: Entities,
                                                        synthetic: datasets.Dataset) -> None:
    expected = int(synthetic.persons["id"].max()) + 1
    new_id = ent.persons.add("Ada Lovelace", 1915, "F", "T8H1N")
    assert new_id == expected
    assert ent.persons.get(new_id)["zip_code"] == "T8H1N"
    with pytest.raises(DuplicateIdError, match=f"person id {new_id} already exists"):
        ent.persons.add("Somebody Else", 1950, "M", "12345", id=new_id)
    assert ent.persons.get(new_id)["full_name"] == "Ada Lovelace"
    ent.persons.add("Ada King", 1915, "F", "T8H1N", id=new_id, overwrite=True)
    assert ent.persons.get(new_id)["full_name"] == "Ada King"
    assert ent.persons.count() == len(synthetic.persons) + 1


def test_add_validates_fields_with_clear_messages(ent: Entities) -> None:
    with pytest.raises(EntityError, match="gender must be M or F"):
        ent.persons.add("X", 1950, "Q", "12345")
    with pytest.raises(EntityError, match="birth_year must be between"):
        ent.persons.add("X", 1700, "M", "12345")
    with pytest.raises(EntityError, match="person 9999 does not exist"):
        ent.users.add(id=9999, occupation="writer")
    with pytest.raises(EntityError, match="unknown genre"):
        ent.movies.add("X", genres=["Space Opera"])
    with pytest.raises(EntityError, match="rating must be a whole number from 1 to 5"):
        ent.scores.add(1, 1, 7)
    with pytest.raises(EntityError, match="movie_id 424242 is not a known movie"):
        ent.scores.add(1, 424242, 3)
    with pytest.raises(EntityError, match="working_hours"):
        ent.workers.add(1, "Analyst", "A", "nine to five", "1998-01-01")


def test_movie_add_stores_normalised_genres(ent: Entities) -> None:
    movie_id = ent.movies.add("Brand New (1999)", "1999-05-01", "http://example.org/x",
                              ["Drama", "Comedy"])
    stored = ent.movies.get(movie_id)
    assert stored["genres"] == ["Comedy", "Drama"]  # canonical genre order
    assert stored["release_date"] == dt.date(1999, 5, 1)
    found = ent.movies.find(ids=movie_id)
    assert found["genres"].tolist() == [["Comedy", "Drama"]]


def test_score_add_refuses_a_second_rating_of_the_same_movie(ent: Entities) -> None:
    first = ent.scores.find(user_ids=1).iloc[0]
    with pytest.raises(DuplicateIdError, match=f"user 1 already rated movie {first.movie_id}"):
        ent.scores.add(1, int(first.movie_id), 5)
    same_id = ent.scores.add(1, int(first.movie_id), 5, overwrite=True)
    assert same_id == first.id
    assert ent.scores.get(same_id)["rating"] == 5


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_shaped_input_is_just_text(ent: Entities, session: Session,
                                             text: str) -> None:
    assert ent.movies.find(title=text).empty
    assert ent.persons.find(name=text).empty
    assert ent.users.find(occupation=text).empty
    movie_id = ent.movies.add(text, None, None, [])
    found = ent.movies.find(title=text)
    assert found["id"].tolist() == [movie_id]
    assert found["title"].tolist() == [text]
    assert "movies" in inspect(session.get_bind()).get_table_names()


def test_find_filters_combine_with_and(ent: Entities, synthetic: datasets.Dataset) -> None:
    movies = synthetic.movies
    movies_years = movies["release_date"].dt.year
    genre = "Action"
    expected = movies[(movies_years >= 1950) & (movies_years <= 1980)
                      & movies["genres"].map(lambda gs: genre in gs)]
    found = ent.movies.find(year_from=1950, year_to=1980, genres=[genre])
    assert found["id"].tolist() == expected["id"].tolist()
    both = ent.movies.find(genres=["Action", "Comedy"])
    expected_both = movies[movies["genres"].map(lambda gs: {"Action", "Comedy"} <= set(gs))]
    assert both["id"].tolist() == expected_both["id"].tolist()
    assert ent.movies.count_matching(genres=["Action", "Comedy"]) == len(expected_both)
    assert ent.movies.find(title="MOVIE 1 (")["id"].tolist() == [1]
    page = ent.movies.find(limit=5, offset=5)
    assert page["id"].tolist() == movies["id"].iloc[5:10].tolist()


def test_find_people_by_each_filter(ent: Entities, synthetic: datasets.Dataset) -> None:
    persons = synthetic.persons
    women = ent.persons.find(gender="f")
    assert women["id"].tolist() == persons.loc[persons["gender"] == "F", "id"].tolist()
    band = ent.persons.find(birth_year_from=1950, birth_year_to=1959)
    assert band["birth_year"].between(1950, 1959).all()
    assert len(band) == persons["birth_year"].between(1950, 1959).sum()
    zip_code = persons["zip_code"].iloc[0]
    assert ent.persons.find(zip_code=zip_code)["id"].tolist() == [persons["id"].iloc[0]]
    assert ent.persons.find(name="person 1")["id"].tolist() == [
        i for i in persons["id"] if str(i).startswith("1")]
    itba = ent.users.find(occupation="itba")
    assert set(itba["id"]) == set(synthetic.workers["id"])
    position = synthetic.workers["position"].iloc[0]
    assert ent.workers.find(position=position.lower())["id"].tolist() == \
        synthetic.workers.loc[synthetic.workers["position"] == position, "id"].tolist()
    scores = ent.scores.find(user_ids=[1, 2], rating_min=4)
    expected = synthetic.scores[synthetic.scores["user_id"].isin([1, 2])
                                & (synthetic.scores["rating"] >= 4)]
    assert scores["id"].tolist() == expected["id"].tolist()


def test_remove_requires_every_field_to_match(ent: Entities) -> None:
    movie_id = ent.movies.add("To Remove", "1990-01-01", None, ["Drama"])
    stored = {k: v for k, v in ent.movies.get(movie_id).items() if k != "id"}
    with pytest.raises(MismatchError, match="field 'title' differs"):
        ent.movies.remove(movie_id, **{**stored, "title": "Other"})
    with pytest.raises(MismatchError, match="field 'release_date' differs"):
        ent.movies.remove(movie_id, **{**stored, "release_date": "1990-01-02"})
    with pytest.raises(EntityError, match="missing: genres"):
        ent.movies.remove(movie_id, **{k: v for k, v in stored.items() if k != "genres"})
    ent.movies.remove(movie_id, **{**stored, "release_date": "1990-01-01",
                                   "genres": ["Drama"]})
    with pytest.raises(NotFoundError):
        ent.movies.get(movie_id)


def test_remove_with_dependents_is_refused_unless_cascade(ent: Entities,
                                                          session: Session) -> None:
    user = {k: v for k, v in ent.users.get(1).items() if k != "id"}
    n_scores = len(ent.scores.find(user_ids=1))
    session.add(Prediction(user_id=1, movie_id=1, predicted_rating=4.0, rank=1, score=1.0,
                           model_version="t"))
    session.flush()
    with pytest.raises(HasDependentsError, match=f"has {n_scores} scores, 1 predictions"):
        ent.users.remove(1, **user)
    assert len(ent.scores.find(user_ids=1)) == n_scores
    ent.users.remove(1, cascade=True, **user)
    assert ent.scores.find(user_ids=1).empty
    assert session.execute(select(func.count()).select_from(Prediction)).scalar_one() == 0

    movie = {k: v for k, v in ent.movies.get(2).items() if k != "id"}
    with pytest.raises(HasDependentsError, match="scores"):
        ent.movies.remove(2, **movie)
    ent.movies.remove(2, cascade=True, **movie)
    assert session.execute(select(func.count()).where(Score.movie_id == 2)).scalar_one() == 0

    worker_id = int(ent.workers.find()["id"].iloc[0])
    person = {k: v for k, v in ent.persons.get(worker_id).items() if k != "id"}
    with pytest.raises(HasDependentsError, match="user row"):
        ent.persons.remove(worker_id, **person)
    ent.persons.remove(worker_id, cascade=True, **person)
    assert ent.workers.find(ids=worker_id).empty and ent.users.find(ids=worker_id).empty


def test_entities_take_ids_from_the_database(loaded: Engine) -> None:
    from recsys.entities import Entities

    with db.session_scope(loaded) as session:
        e = Entities(session)
        first = e.persons.add("Ada Lovelace", 1915, "F", "T8H1N")
        explicit = e.persons.add("Alan Turing", 1912, "M", "12345", id=first + 50)
        after = e.persons.add("Grace Hopper", 1906, "F", "10001")
        movie = e.movies.add("A new film", "1999-01-01", genres=["Drama"])
    assert explicit == first + 50 and after > explicit  # the sequence moved past it
    assert movie > 0
