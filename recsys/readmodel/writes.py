"""Read-your-writes across the API's worker processes.

A rating stored through one gunicorn worker is applied to that worker's read model at once,
but the other workers would see it only at their next refresh (up to the refresh interval,
2 s by default: about a third of the answers in that window were stale). So every worker of
one API maps one small file, the **write mark**: the largest rating id stored through any of
them. The writer raises it after its commit and before its 201; every read that depends on
ratings (recommendations, a movie's counts) first compares the mark with what its own read
model holds (a read from shared memory, nanoseconds) and, when behind, reads the ratings
stored since, by primary key, and applies them.

The mark lives under the var folder (one file per database URL), so it covers the workers
of one machine; API processes on several machines share no var folder and see each other's
ratings at their next refresh, at most ``RECSYS_API_REFRESH_SECONDS`` later (README, "The
API").
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import struct
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_FORMAT = "<q"
_SIZE = struct.calcsize(_FORMAT)


class WriteMark:
    """The largest rating id stored through any worker sharing ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _SIZE:
                os.ftruncate(fd, _SIZE)
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)
        self._lock_file: Any = open(path, "rb")  # noqa: SIM115 - held for flock

    @classmethod
    def open(cls, var_dir: Path, database_url: str) -> WriteMark | None:
        """The mark of the API serving ``database_url`` from ``var_dir``; None (and a log
        line) when the folder cannot hold it (then only the refresh brings other workers'
        ratings)."""
        name = hashlib.sha1(database_url.encode()).hexdigest()[:16]
        try:
            return cls(var_dir / "run" / f"written-{name}")
        except OSError as exc:
            log.info("no write mark (%s): other workers see new ratings at their refresh", exc)
            return None

    def latest(self) -> int:
        """The largest rating id stored through any worker (0 before the first)."""
        return int(struct.unpack_from(_FORMAT, self._map, 0)[0])

    def note(self, score_id: int) -> None:
        """Raise the mark to ``score_id`` (never lower it), under an exclusive lock."""
        try:
            import fcntl
        except ImportError:  # Windows: one waitress process, nothing to share
            fcntl = None  # type: ignore[assignment]
        if fcntl is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        try:
            if score_id > self.latest():
                struct.pack_into(_FORMAT, self._map, 0, int(score_id))
        finally:
            if fcntl is not None:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def close(self) -> None:
        self._map.close()
        self._lock_file.close()
