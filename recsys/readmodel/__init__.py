"""The API's read model: what the hot endpoints (/recommendations, /similar_movies,
/movies/{id}) read, kept in memory and current. The API only wires it
(:mod:`recsys.api.services`); nothing here knows about HTTP.

- :mod:`~recsys.readmodel.snapshot`: the data (:class:`Snapshot`, :class:`MovieInfo`), and
  :mod:`~recsys.readmodel.rows` its flat-array form for millions of ratings;
- :mod:`~recsys.readmodel.queries`: every query it runs;
- :mod:`~recsys.readmodel.fingerprint`: what it compares to see a change, read in one
  snapshot of the database;
- :mod:`~recsys.readmodel.refresh`: the background refresh (:class:`ServingCache`, with the
  PostgreSQL change listener), and the copy gunicorn's master loads for its workers;
- :mod:`~recsys.readmodel.writes`: the write mark that makes a rating posted through one
  worker visible to every worker at once;
- :mod:`~recsys.readmodel.responses` (serialised answers kept for reuse),
  :mod:`~recsys.readmodel.memory` (the collector told to leave the snapshot alone);
- :mod:`~recsys.readmodel.reads`: :class:`ReadModel`, the one facade the views read
  through (memory when it holds the row, else the database).
"""

from recsys.readmodel.reads import Read, ReadModel, UserRows
from recsys.readmodel.refresh import ServingCache, preload_snapshot
from recsys.readmodel.snapshot import MovieInfo, Snapshot
from recsys.readmodel.writes import WriteMark

__all__ = ["MovieInfo", "Read", "ReadModel", "ServingCache", "Snapshot", "UserRows",
           "WriteMark", "preload_snapshot"]
