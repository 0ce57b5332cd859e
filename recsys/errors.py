"""The project's exception hierarchy.

Every problem a user can fix (a missing file, a bad row, an unknown id, a database that cannot
be reached, a model that was never trained) is a :class:`RecsysError`: the command line prints
its message on one line and exits with status 2, the API turns the ones that reach it into a
JSON answer. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class RecsysError(Exception):
    """A problem the user can fix; the message says what and how."""


class ConfigError(RecsysError, ValueError):
    """A setting (environment variable, parameter, option) has an unusable value."""


class UsageError(RecsysError, ValueError):
    """An argument or option has a value the operation cannot use."""


class DataError(RecsysError):
    """A data file cannot be used at all (missing, empty, unreadable, a missing column)."""


class FetchError(DataError):
    """The CSVs could not be obtained; the message says how to get them by hand."""


class DatabaseError(RecsysError):
    """The database cannot be reached, refuses our credentials, or holds no data yet."""


class IngestRefused(RecsysError):
    """Ingest would destroy data (or load nothing) and ``force`` was not given; nothing changed."""


class EntityError(RecsysError, ValueError):
    """An entity operation was refused; the message says why."""


class ModelError(RecsysError):
    """A model artifact is missing, corrupt or does not match the data."""


class ModelNotFound(ModelError):
    """No model has been trained (saved) where one was looked for."""


class VectorStoreError(RecsysError):
    """A request the vector store cannot serve (bad arguments, unknown index)."""
