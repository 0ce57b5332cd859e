"""Shared mechanics of the entity operations: errors, value conversions, add and remove."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, ClassVar, Generic, TypeVar

import pandas as pd
from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from recsys import rules
from recsys.db.bulk import sync_identity
from recsys.db.schema import GENERATED_ID_TABLES, Base, Prediction, Score, UserCluster
from recsys.errors import EntityError
from recsys.rules import RuleError

__all__ = ["DuplicateIdError", "EntityError", "HasDependentsError", "MismatchError",
           "NotFoundError"]


class DuplicateIdError(EntityError):
    """The id exists already and ``overwrite`` was not requested."""


class NotFoundError(EntityError, LookupError):
    """No row has that id."""


class MismatchError(EntityError):
    """``remove`` was given a field value that differs from the stored row."""


class HasDependentsError(EntityError):
    """``remove`` would orphan other rows and ``cascade`` was not requested."""


M = TypeVar("M", bound=Base)


def contains(column: Any, text: str) -> Any:
    """Case-insensitive substring match with LIKE wildcards escaped (a bound parameter)."""
    return func.lower(column).contains(text.lower(), autoescape=True)


def as_date(value: Any, field: str) -> dt.date | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        raise EntityError(f"{field}: {value!r} is not a date") from None


def as_datetime(value: Any, field: str) -> dt.datetime | None:
    """An instant as stored (naive UTC), within the accepted range (see :mod:`recsys.rules`)."""
    if value is None or value is pd.NaT:
        return None
    try:
        return rules.check_timestamp(value, field)
    except RuleError as exc:
        raise EntityError(str(exc)) from None


def checked(check: Any, *args: Any) -> Any:
    """Run a :mod:`recsys.rules` check, reporting a broken rule as an :class:`EntityError`."""
    try:
        return check(*args)
    except RuleError as exc:
        raise EntityError(str(exc)) from None


def frame(session: Session, stmt: Select) -> pd.DataFrame:
    result = session.execute(stmt)
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def ids_of(values: int | Iterable[int] | None) -> list[int] | None:
    if values is None:
        return None
    if isinstance(values, int):
        return [values]
    return [int(v) for v in values]


class _Entity(Generic[M]):
    """Shared mechanics of add / remove for one ORM model."""

    model: ClassVar[type[Any]]
    name: ClassVar[str]
    #: data fields compared by ``remove`` and set by ``add`` (besides the id)
    fields: ClassVar[tuple[str, ...]]

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- reading -------------------------------------------------------------------------------
    def next_id(self) -> int:
        """The largest id plus one (1 if empty): what ``add`` gives a user or worker without
        an id (persons, movies and scores get theirs from the database)."""
        largest = self.session.execute(select(func.max(self.model.id))).scalar_one_or_none()
        return int(largest or 0) + 1

    def get(self, id: int) -> dict[str, Any]:
        """The row with this id as a dict; :class:`NotFoundError` if there is none."""
        row = self.session.get(self.model, int(id))
        if row is None:
            raise NotFoundError(f"{self.name} {id} does not exist")
        return self._as_dict(row)

    def count(self) -> int:
        """Number of rows."""
        return int(self.session.execute(select(func.count()).select_from(self.model)).scalar_one())

    def _as_dict(self, row: Any) -> dict[str, Any]:
        return {"id": row.id, **{f: getattr(row, f) for f in self.fields}}

    # -- writing -------------------------------------------------------------------------------
    def _check(self, values: dict[str, Any]) -> dict[str, Any]:
        """Validate and normalise field values before they reach the database."""
        return values

    def _store(self, values: dict[str, Any], id: int | None, overwrite: bool) -> int:
        values = self._check(values)
        table = self.model.__tablename__
        generated = table in GENERATED_ID_TABLES
        if id is None and generated:  # the database picks the id: safe under concurrency
            row = self.model(**values)
            self.session.add(row)
            self.session.flush()
            return int(row.id)
        low = 0 if table == "scores" else rules.MIN_ID  # scores.csv numbers rows from 0
        new_id = self.next_id() if id is None else checked(rules.check_id, id, "id", low)
        existing = self.session.get(self.model, new_id)
        if existing is not None and not overwrite:
            raise DuplicateIdError(
                f"{self.name} id {new_id} already exists; pass overwrite=True to replace it")
        if existing is None:
            self.session.add(self.model(id=new_id, **values))
        else:
            for key, value in values.items():
                setattr(existing, key, value)
        self.session.flush()
        if generated:
            sync_identity(self.session.connection(), table)
        return new_id

    def _normalise(self, field: str, value: Any) -> Any:
        """How a field is compared by ``remove`` (dates as dates, genres as sets...)."""
        return value

    def _dependents(self, id: int) -> dict[str, int]:
        """Rows that reference this one, by kind (refused unless cascade)."""
        return {}

    def _cascade(self, id: int) -> None:
        """Delete the dependents listed by :meth:`_dependents`."""

    def remove(self, id: int, cascade: bool = False, **expected: Any) -> None:
        """Delete row ``id`` when every field matches ``expected``.

        Args:
            id: the row's id.
            cascade: also delete rows that depend on this one (see the module docstring).
            **expected: every data field of the row, as the caller believes it to be.

        Raises:
            NotFoundError: no such id.
            EntityError: a field is missing from ``expected`` or unknown.
            MismatchError: a field differs from the stored value (the message names it).
            HasDependentsError: dependents exist and ``cascade`` is False.
        """
        row = self.session.get(self.model, int(id))
        if row is None:
            raise NotFoundError(f"{self.name} {id} does not exist")
        unknown = sorted(set(expected) - set(self.fields))
        if unknown:
            raise EntityError(f"unknown field(s) for {self.name}: {', '.join(unknown)}")
        missing = [f for f in self.fields if f not in expected]
        if missing:
            raise EntityError(f"remove needs every field of {self.name} {id} to match; "
                              f"missing: {', '.join(missing)}")
        stored = self._as_dict(row)
        for field in self.fields:
            if self._normalise(field, stored[field]) != self._normalise(field, expected[field]):
                raise MismatchError(
                    f"{self.name} {id} not removed: field {field!r} differs "
                    f"(stored {stored[field]!r}, given {expected[field]!r})")
        dependents = {k: v for k, v in self._dependents(int(id)).items() if v}
        if dependents and not cascade:
            listed = ", ".join(f"{n} {k}" for k, n in dependents.items())
            raise HasDependentsError(
                f"{self.name} {id} has {listed}; pass cascade=True to delete them too")
        if dependents:
            self._cascade(int(id))
        self.session.delete(row)
        self.session.flush()


def count_where(session: Session, column: Any, id: int) -> int:
    return int(session.execute(select(func.count()).where(column == id)).scalar_one())


def delete_user_rows(session: Session, user_id: int) -> None:
    session.execute(delete(UserCluster).where(UserCluster.user_id == user_id))
    session.execute(delete(Prediction).where(Prediction.user_id == user_id))
    session.execute(delete(Score).where(Score.user_id == user_id))
