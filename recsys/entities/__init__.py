"""Entity operations on the database: add, find and remove.

The course's first assignment, done right: Person, User, Worker, Movie and Score each get

- ``add``: the id is max+1 when none is given; an existing id is refused with
  :class:`DuplicateIdError` unless ``overwrite=True``, which replaces the row;
- ``find``: filters combined with AND, always through bound parameters (a title such as
  ``Schindler's List`` or ``'); DROP TABLE x;--`` is just text), returning a DataFrame;
- ``remove``: only when every field given matches the stored row, otherwise
  :class:`MismatchError` naming the field that differs;
- their statistics (tables and figures) live in :mod:`recsys.entities.stats`.

What happens to dependents on ``remove`` is explicit: a person who is a user or a worker, and a
user or movie that still has scores, are refused with :class:`HasDependentsError` unless
``cascade=True``, which deletes the dependent scores, predictions, user and worker rows in the
same transaction. Operations flush but do not commit: the caller's session scope decides.

Example::

    with session_scope(engine) as session:
        movies = Movies(session)
        movies.find(title="schindler", genres=["Drama"])
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from recsys.entities.base import (
    DuplicateIdError,
    EntityError,
    HasDependentsError,
    MismatchError,
    NotFoundError,
)
from recsys.entities.movies import Movies
from recsys.entities.people import Persons, Users, Workers
from recsys.entities.scores import Scores

__all__ = ["DuplicateIdError", "Entities", "EntityError", "HasDependentsError",
           "MismatchError", "Movies", "NotFoundError", "Persons", "Scores", "Users", "Workers"]


class Entities:
    """The five entity collections over one session: ``Entities(session).movies.find(...)``."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.persons = Persons(session)
        self.users = Users(session)
        self.workers = Workers(session)
        self.movies = Movies(session)
        self.scores = Scores(session)
