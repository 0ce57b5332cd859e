"""Persons, users and workers (users and workers are persons)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pandas as pd
from sqlalchemy import Select, delete, func, select

from recsys import rules
from recsys.db.schema import Cluster, Person, Prediction, Score, User, UserCluster, Worker
from recsys.entities.base import (
    EntityError,
    NotFoundError,
    _Entity,
    as_date,
    as_datetime,
    checked,
    contains,
    count_where,
    delete_user_rows,
    frame,
    ids_of,
)


class Persons(_Entity[Person]):
    """Persons: every user and worker is one."""

    model = Person
    name = "person"
    fields = ("full_name", "birth_year", "gender", "zip_code")

    def add(self, full_name: str, birth_year: int, gender: str, zip_code: str,
            id: int | None = None, overwrite: bool = False) -> int:
        """Add a person (or replace one with ``overwrite``); returns the id."""
        return self._store({"full_name": full_name, "birth_year": birth_year, "gender": gender,
                            "zip_code": zip_code}, id, overwrite)

    def _check(self, values: dict[str, Any]) -> dict[str, Any]:
        return {"full_name": checked(rules.check_text, values["full_name"], "full_name", 200),
                "birth_year": checked(rules.check_birth_year, values["birth_year"]),
                "gender": checked(rules.check_gender, values["gender"]),
                "zip_code": checked(rules.check_zip, values["zip_code"])}

    def find(self, ids: int | Iterable[int] | None = None, name: str | None = None,
             birth_year_from: int | None = None, birth_year_to: int | None = None,
             gender: str | None = None, zip_code: str | None = None) -> pd.DataFrame:
        """Persons matching every filter given (name: case-insensitive substring)."""
        stmt = select(Person.id, Person.full_name, Person.birth_year, Person.gender,
                      Person.zip_code).order_by(Person.id)
        stmt = _person_filters(stmt, ids, Person.id, name, birth_year_from, birth_year_to,
                               gender, zip_code)
        return frame(self.session, stmt)

    def _dependents(self, id: int) -> dict[str, int]:
        user = self.session.get(User, id)
        return {"user row": int(user is not None),
                "worker row": int(self.session.get(Worker, id) is not None),
                "scores": count_where(self.session, Score.user_id, id) if user else 0}

    def _cascade(self, id: int) -> None:
        delete_user_rows(self.session, id)
        self.session.execute(delete(Worker).where(Worker.id == id))
        self.session.execute(delete(User).where(User.id == id))



def _person_filters(stmt: Select, ids: Any, id_column: Any, name: str | None,
                    birth_year_from: int | None, birth_year_to: int | None,
                    gender: str | None, zip_code: str | None) -> Select:
    """Filters on the person part of a row (shared by persons, users and workers)."""
    id_list = ids_of(ids)
    if id_list is not None:
        stmt = stmt.where(id_column.in_(id_list))
    if name:
        stmt = stmt.where(contains(Person.full_name, name))
    if birth_year_from is not None:
        stmt = stmt.where(Person.birth_year >= int(birth_year_from))
    if birth_year_to is not None:
        stmt = stmt.where(Person.birth_year <= int(birth_year_to))
    if gender:
        stmt = stmt.where(Person.gender == gender.strip().upper())
    if zip_code:
        stmt = stmt.where(Person.zip_code == zip_code.strip())
    return stmt


class Users(_Entity[User]):
    """Users: persons who rate movies."""

    model = User
    name = "user"
    fields = ("occupation", "active_since")

    def add(self, id: int | None = None, occupation: str = "other",
            active_since: Any = None, overwrite: bool = False) -> int:
        """Make an existing person a user (or replace a user with ``overwrite``).

        ``id`` defaults to max+1, which only works if that person exists: add the person first.
        ``active_since`` defaults to now.
        """
        values = {"occupation": occupation,
                  "active_since": active_since if active_since is not None
                  else dt.datetime.now(dt.UTC)}
        new_id = self.next_id() if id is None else int(id)
        if self.session.get(Person, new_id) is None:
            raise EntityError(f"person {new_id} does not exist: a user must be a person, "
                              "add the person first")
        return self._store(values, new_id, overwrite)

    def _check(self, values: dict[str, Any]) -> dict[str, Any]:
        occupation = checked(rules.check_text, values["occupation"], "occupation", 50)
        return {"occupation": occupation,
                "active_since": as_datetime(values["active_since"], "active_since")}

    def _normalise(self, field: str, value: Any) -> Any:
        return as_datetime(value, field) if field == "active_since" else value

    def find(self, ids: int | Iterable[int] | None = None, occupation: str | None = None,
             name: str | None = None, gender: str | None = None, zip_code: str | None = None,
             birth_year_from: int | None = None, birth_year_to: int | None = None
             ) -> pd.DataFrame:
        """Users (with their person fields) matching every filter given."""
        stmt = (select(User.id, Person.full_name, Person.birth_year, Person.gender,
                       Person.zip_code, User.occupation, User.active_since)
                .join(Person, Person.id == User.id).order_by(User.id))
        stmt = _person_filters(stmt, ids, User.id, name, birth_year_from, birth_year_to,
                               gender, zip_code)
        if occupation:
            stmt = stmt.where(func.lower(User.occupation) == occupation.strip().lower())
        return frame(self.session, stmt)

    def _dependents(self, id: int) -> dict[str, int]:
        return {"scores": count_where(self.session, Score.user_id, id),
                "predictions": count_where(self.session, Prediction.user_id, id)}

    def profile(self, user_id: int) -> dict[str, Any]:
        """A user with their person fields, worker position, rating count and mean, and
        cluster (:class:`NotFoundError` for an unknown user)."""
        row = self.session.execute(select(User, Person).join(Person, Person.id == User.id)
                                   .where(User.id == int(user_id))).one_or_none()
        if row is None:
            raise NotFoundError(f"user {user_id} does not exist")
        user, person = row
        worker = self.session.get(Worker, user.id)
        count, mean = self.session.execute(select(func.count(Score.id), func.avg(Score.rating))
                                           .where(Score.user_id == user.id)).one()
        cluster = self.session.execute(
            select(Cluster.id, Cluster.description)
            .join(UserCluster, UserCluster.cluster_id == Cluster.id)
            .where(UserCluster.user_id == user.id)).one_or_none()
        return {"id": user.id, "full_name": person.full_name, "birth_year": person.birth_year,
                "gender": person.gender, "zip_code": person.zip_code,
                "occupation": user.occupation, "active_since": user.active_since,
                "position": worker.position if worker else None, "ratings": int(count),
                "mean_rating": round(float(mean), 4) if mean is not None else None,
                "cluster": dict(cluster._mapping) if cluster else None}

    def _cascade(self, id: int) -> None:
        delete_user_rows(self.session, id)



class Workers(_Entity[Worker]):
    """Workers: persons employed by the course's company."""

    model = Worker
    name = "worker"
    fields = ("position", "category", "working_hours", "start_date")

    def add(self, id: int, position: str, category: str, working_hours: str,
            start_date: Any, overwrite: bool = False) -> int:
        """Make an existing person a worker (or replace a worker with ``overwrite``)."""
        if self.session.get(Person, int(id)) is None:
            raise EntityError(f"person {id} does not exist: a worker must be a person, "
                              "add the person first")
        return self._store({"position": position, "category": category,
                            "working_hours": working_hours, "start_date": start_date},
                           id, overwrite)

    def _check(self, values: dict[str, Any]) -> dict[str, Any]:
        if values["start_date"] is None:
            raise EntityError("start_date is required")
        return {"position": checked(rules.check_text, values["position"], "position", 100),
                "category": checked(rules.check_text, values["category"], "category", 10),
                "working_hours": checked(rules.check_working_hours, values["working_hours"]),
                "start_date": checked(rules.check_date, values["start_date"], "start_date")}

    def _normalise(self, field: str, value: Any) -> Any:
        return as_date(value, field) if field == "start_date" else value

    def find(self, ids: int | Iterable[int] | None = None, position: str | None = None,
             category: str | None = None, name: str | None = None, gender: str | None = None,
             zip_code: str | None = None) -> pd.DataFrame:
        """Workers (with their person fields) matching every filter given."""
        stmt = (select(Worker.id, Person.full_name, Person.gender, Worker.position,
                       Worker.category, Worker.working_hours, Worker.start_date)
                .join(Person, Person.id == Worker.id).order_by(Worker.id))
        stmt = _person_filters(stmt, ids, Worker.id, name, None, None, gender, zip_code)
        if position:
            stmt = stmt.where(func.lower(Worker.position) == position.strip().lower())
        if category:
            stmt = stmt.where(Worker.category == category.strip())
        return frame(self.session, stmt)
