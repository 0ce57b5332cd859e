"""In-memory read model for the hot endpoints (/recommendations, /similar_movies, /movies/{id}).

A recommendations API reads far more than it writes, and the data it reads change in batches
(a new ingest, a new batch prediction) or one rating at a time. So the API keeps what those
endpoints need in memory: movies, stored predictions, and each user's rated and liked
movies, plus the serialised responses it has already built. They stay current because

- writes made through this API (``POST /scores``) update the read model at once;
- a background thread compares fingerprints of the tables (row counts, largest ids, model
  version) every ``refresh_seconds`` (on PostgreSQL only after the tables' triggers notified a
  change, :mod:`recsys.db.notify`: counting millions of rows in every worker every 2 s costs
  the database more than the requests do): new ratings appended since the last look (by any
  process) are applied incrementally, in milliseconds; anything else (an ingest, a batch
  prediction, a deletion) reloads the whole snapshot, built outside the lock and swapped in;
- a vector index rebuilt on disk (``recsys index``) changes the key of cached similar-movie
  answers, so old ones are never served again.

Cached responses are keyed by a per-user and per-movie generation that a change bumps, so a
rating invalidates exactly the answers it affects in O(1), whatever the cache holds. So a
change made elsewhere is visible after at most ``refresh_seconds`` (``RECSYS_API_REFRESH_SECONDS``,
default 2); a change made through this process immediately.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine

from recsys.db.notify import ChangeListener
from recsys.readmodel.fingerprint import consistent, fingerprint, only_ratings_appended
from recsys.readmodel.memory import settle_garbage_collector
from recsys.readmodel.queries import OBJECT_RATINGS, load_snapshot, ratings_after
from recsys.readmodel.responses import ResponseCache
from recsys.readmodel.snapshot import Snapshot

log = logging.getLogger(__name__)

#: With change notifications (PostgreSQL, :mod:`recsys.db.notify`) the tables are counted
#: only after a notification, and this often anyway, in case one was lost.
SAFETY_CHECK_SECONDS = 600.0


def preload_snapshot(database_url: str, memory_ratings: int | None) -> Snapshot | None:
    """The read model read once, in gunicorn's master before it forks the workers.

    Each worker then starts from the master's copy instead of reading every rating itself:
    at 25 million ratings that is one read instead of one per worker (start-up 130 s with
    two workers reading at once), and the arrays' pages stay shared between the processes
    until a worker writes to them (copy-on-write; the collector is told to leave the objects
    alone). A worker still compares the copy with the database when it starts, so anything
    committed in between is applied (:meth:`ServingCache.start`). Best effort: a database
    that is down, or not ingested yet, gives None and the workers load for themselves.
    """
    from recsys import db

    engine = db.make_engine(database_url)
    started = time.perf_counter()
    try:
        snap = load_snapshot(engine, memory_ratings)
    except Exception as exc:  # noqa: BLE001 - the workers retry and report it themselves
        log.info("read model not preloaded (%s); each worker loads its own",
                 str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return None
    finally:
        engine.dispose()  # no connection may cross the fork
    settle_garbage_collector()
    log.info("read model loaded for the workers: %d movies, %d users, %d ratings in %.2f s",
             len(snap.movies), len(snap.users), snap.fingerprint[0],
             time.perf_counter() - started)
    return snap


class ServingCache:
    """The read model and the response cache, refreshed in the background.

    Args:
        engine: the database.
        refresh_seconds: how often the background thread checks for changes (0: never).
        memory_ratings: above this many ratings per-user rows are read per request (see
            :func:`load_snapshot`); None: always in memory.
        store_version: returns a value that changes when the vector indexes are rebuilt.
        on_tick: called first on every refresh; True means cached answers are outdated (a
            newly trained model was loaded).
    """

    def __init__(self, engine: Engine, refresh_seconds: float = 2.0,
                 store_version: Callable[[], Any] | None = None,
                 on_tick: Callable[[], bool] | None = None,
                 memory_ratings: int | None = None) -> None:
        self.engine = engine
        self.memory_ratings = memory_ratings
        self.object_ratings = OBJECT_RATINGS
        self.check_seconds = 0.0
        self.refresh_seconds = refresh_seconds
        self.store_version = store_version or (lambda: None)
        self.on_tick = on_tick or (lambda: False)
        self.responses = ResponseCache()
        self.snapshot: Snapshot | None = None
        self.store_key: Any = None
        self._generations: dict[tuple[str, int], int] = {}
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None
        self._listener: ChangeListener | None = None
        self._caught_up = 0  # ratings up to this id applied through catch_up
        self._catch_up_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self.snapshot is not None

    def generation(self, kind: str, id: int) -> int:
        """The current generation of a user's or a movie's cached answers."""
        return self._generations.get((kind, id), 0)

    def _bump(self, kind: str, id: int) -> None:
        self._generations[(kind, id)] = self._generations.get((kind, id), 0) + 1

    def start(self, initial: Snapshot | None = None) -> ServingCache:
        """Load now (best effort: a database that is down leaves the cache empty and the
        endpoints on their database path) and keep refreshing in the background.

        ``initial``: a read model loaded earlier (by gunicorn's master,
        :func:`preload_snapshot`); it is checked against the database like any loaded one, so
        ratings stored since are applied and any other change reloads it."""
        if self.refresh_seconds > 0 and self._thread is None:
            # listening before the first load: nothing committed after it goes unheard
            self._listener = ChangeListener.open(self.engine)
        if initial is not None and self.snapshot is None:
            self.snapshot = initial
        self.refresh()
        if self.refresh_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name="recsys-serving-refresh")
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        last_check = time.monotonic()
        while not self._stop.wait(self.interval()):
            listener = self._listener
            due = (listener is None or listener.changed()
                   or time.monotonic() - last_check > SAFETY_CHECK_SECONDS)
            if due:
                last_check = time.monotonic()
            self.refresh(database=due)
        if self._listener is not None:
            self._listener.close()

    def interval(self) -> float:
        """Seconds until the next check: ``refresh_seconds``, or 20 times what the last
        check took when that is longer. Counting 25 million ratings takes about a second, and
        every worker checking every 2 s would keep the database's cores busy counting; this way
        checks never take more than 5 % of the database's time (ratings posted through a worker
        are applied by that worker at once, whatever the interval)."""
        return max(self.refresh_seconds, 20 * self.check_seconds)

    def _report(self, problem: str | None) -> None:
        """Log a refresh failure once (not on every tick), and its recovery."""
        if problem != self._last_error:
            if problem:
                log.warning("read model refresh failed: %s", problem)
            elif self._last_error:
                log.info("read model refresh works again")
        self._last_error = problem

    def refresh(self, database: bool = True) -> bool:
        """Bring the read model up to date; True when anything changed. ``database`` False:
        only the model and the vector indexes are looked at (no change was notified)."""
        try:
            if self.on_tick():  # e.g. a newly trained model: cached answers are outdated
                self.responses.clear()
            self.store_key = self.store_version()
            if not database:
                return False
            with consistent(self.engine) as conn:
                started = time.perf_counter()
                current = fingerprint(conn)
                self.check_seconds = time.perf_counter() - started
                snap = self.snapshot
                if snap is not None and current == snap.fingerprint:
                    self._report(None)
                    return False
                if (snap is not None and only_ratings_appended(snap.fingerprint, current)
                        and self._append_ratings(conn, snap, current)):
                    self._report(None)
                    return True
            started = time.perf_counter()
            fresh = load_snapshot(self.engine, self.memory_ratings, self.object_ratings)
        except Exception as exc:  # noqa: BLE001 - a failed refresh keeps serving the last one
            self._report(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return False
        with self._write_lock:
            self.snapshot = fresh
            self._generations.clear()
            self.responses.clear()
        settle_garbage_collector()
        log.info("read model loaded: %d movies, %d users, %d ratings in %.2f s",
                 len(fresh.movies), len(fresh.users), fresh.fingerprint[0],
                 time.perf_counter() - started)
        self._report(None)
        return True

    def _append_ratings(self, conn: Connection, snap: Snapshot,
                        current: tuple[Any, ...]) -> bool:
        """Apply the ratings stored since the snapshot's last score id; False (nothing
        applied) when they do not account for the new count, e.g. a rating committed out of
        id order or a deletion: the caller then reloads everything."""
        rows = ratings_after(conn, snap.last_score_id)
        if snap.fingerprint[0] + len(rows) != current[0]:
            return False
        with self._write_lock:
            for score_id, user, movie, rating in rows:
                if score_id in snap.noted:
                    continue
                snap.add_rating(user, movie, rating)
                self._bump("user", user)
                self._bump("movie", movie)
            snap.last_score_id = max([snap.last_score_id, *(r[0] for r in rows)])
            snap.noted = {i for i in snap.noted if i > snap.last_score_id}
            snap.fingerprint = current
        return True

    def catch_up(self, written: int) -> None:
        """Apply the ratings other workers stored, up to rating id ``written`` (their write
        mark, :mod:`recsys.readmodel.writes`), before answering from the read model: one query
        by primary key, only when this worker is behind."""
        snap = self.snapshot
        if snap is None or written <= max(snap.last_score_id, self._caught_up):
            return
        with self._catch_up_lock:
            if written <= max(snap.last_score_id, self._caught_up):
                return  # another request thread caught up meanwhile
            with self.engine.connect() as conn:
                rows = ratings_after(conn, snap.last_score_id)
            for score_id, user, movie, rating in rows:
                self.note_score(score_id, user, movie, rating)
            self._caught_up = max([written, *(r[0] for r in rows)])

    def note_score(self, score_id: int, user_id: int, movie_id: int,
                   rating: float) -> None:
        """A rating stored through this process: update the read model at once."""
        snap = self.snapshot
        if snap is None:
            return
        with self._write_lock:
            if score_id <= snap.last_score_id or score_id in snap.noted:
                return  # the refresh thread applied it already
            snap.noted.add(score_id)
            snap.add_rating(user_id, movie_id, rating)
            self._bump("user", user_id)
            self._bump("movie", movie_id)
