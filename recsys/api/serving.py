"""In-memory read model for the hot endpoints (/recommendations, /similar_movies, /movies/{id}).

A recommendations API reads far more than it writes, and the data it reads change in batches
(a new ingest, a new batch prediction) or one rating at a time. So the API keeps what those
endpoints need in memory: movies, stored predictions, and each user's rated and liked
movies, plus the serialised responses it has already built. They stay current because

- writes made through this API (``POST /scores``) update the read model at once, and drop the
  cached responses that depended on them;
- a background thread checks cheap fingerprints of the tables (row counts and largest ids or
  model version) every ``refresh_seconds`` and reloads when anything changed, e.g. after
  ``recsys ingest``, ``recsys predict`` or writes from another API process;
- a vector index rebuilt on disk (``recsys index``) is noticed the same way.

So a change made elsewhere is visible after at most ``refresh_seconds``
(``RECSYS_API_REFRESH_SECONDS``, default 2); a change made through this process immediately.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import Engine, func, select

from recsys.schema import Genre, Movie, Prediction, Score, User, movie_genres

log = logging.getLogger(__name__)


@dataclass
class MovieInfo:
    """What responses say about a movie."""

    title: str
    year: int | None
    release_date: Any
    imdb_url: str | None
    genres: list[str]
    ratings: int = 0
    rating_sum: int = 0


@dataclass
class Snapshot:
    """Everything the hot endpoints read, as of one fingerprint of the database."""

    fingerprint: tuple[Any, ...] = ()
    movies: dict[int, MovieInfo] = field(default_factory=dict)
    users: set[int] = field(default_factory=set)
    predictions: dict[int, list[tuple[int, float, float, str]]] = field(default_factory=dict)
    rated: dict[int, set[int]] = field(default_factory=dict)
    liked: dict[int, list[tuple[int, int]]] = field(default_factory=dict)


class ResponseCache:
    """Serialised responses by key, least recently used evicted first, thread-safe."""

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[Any, ...], value: bytes) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def drop(self, predicate: Callable[[tuple[Any, ...]], bool] | None = None) -> None:
        """Drop every entry (or those whose key matches ``predicate``)."""
        with self._lock:
            if predicate is None:
                self._items.clear()
            else:
                for key in [k for k in self._items if predicate(k)]:
                    del self._items[key]


def fingerprint(engine: Engine) -> tuple[Any, ...]:
    """Counts and largest ids of the tables the read model mirrors (a few cheap queries)."""
    with engine.connect() as conn:
        scores = conn.execute(select(func.count(), func.max(Score.id))).one()
        movies = conn.execute(select(func.count(), func.max(Movie.id))).one()
        users = conn.execute(select(func.count(), func.max(User.id))).one()
        predictions = conn.execute(select(func.count(), func.max(Prediction.model_version))
                                   ).one()
    return tuple(scores) + tuple(movies) + tuple(users) + tuple(predictions)


def load_snapshot(engine: Engine) -> Snapshot:
    """Read everything the hot endpoints need."""
    snap = Snapshot(fingerprint=fingerprint(engine))
    with engine.connect() as conn:
        genres: dict[int, list[str]] = {}
        for movie_id, name in conn.execute(
                select(movie_genres.c.movie_id, Genre.name)
                .join(Genre, Genre.id == movie_genres.c.genre_id)
                .order_by(movie_genres.c.movie_id, Genre.id)):
            genres.setdefault(movie_id, []).append(name)
        for m in conn.execute(select(Movie.id, Movie.title, Movie.release_date,
                                     Movie.imdb_url)):
            snap.movies[m.id] = MovieInfo(m.title, m.release_date.year if m.release_date
                                          else None, m.release_date, m.imdb_url,
                                          genres.get(m.id, []))
        snap.users = set(conn.execute(select(User.id)).scalars())
        for user, movie, rating in conn.execute(
                select(Score.user_id, Score.movie_id, Score.rating)
                .order_by(Score.user_id, Score.rating.desc(), Score.rated_at.desc())):
            snap.rated.setdefault(user, set()).add(movie)
            if rating >= 4:
                snap.liked.setdefault(user, []).append((movie, rating))
            info = snap.movies.get(movie)
            if info is not None:
                info.ratings += 1
                info.rating_sum += rating
        for row in conn.execute(select(Prediction.user_id, Prediction.movie_id,
                                       Prediction.predicted_rating, Prediction.score,
                                       Prediction.model_version)
                                .order_by(Prediction.user_id, Prediction.rank)):
            snap.predictions.setdefault(row.user_id, []).append(
                (row.movie_id, row.predicted_rating, row.score, row.model_version))
    return snap


class ServingCache:
    """The read model and the response cache, refreshed in the background.

    Args:
        engine: the database.
        refresh_seconds: how often the background thread checks for changes (0: never).
        store_version: returns a value that changes when the vector indexes are rebuilt.
    """

    def __init__(self, engine: Engine, refresh_seconds: float = 2.0,
                 store_version: Callable[[], Any] | None = None,
                 on_tick: Callable[[], bool] | None = None) -> None:
        self.engine = engine
        self.refresh_seconds = refresh_seconds
        self.store_version = store_version or (lambda: None)
        self.on_tick = on_tick or (lambda: False)
        self.responses = ResponseCache()
        self.snapshot: Snapshot | None = None
        self._store_seen: Any = None
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        return self.snapshot is not None

    def start(self) -> "ServingCache":
        """Load now (best effort: a database that is down leaves the cache empty and the
        endpoints on their database path) and keep refreshing in the background."""
        self.refresh()
        if self.refresh_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name="recsys-serving-refresh")
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            self.refresh()

    def refresh(self) -> bool:
        """Reload when the database or the vector indexes changed; True when reloaded."""
        try:
            if self.on_tick():  # e.g. a newly trained model: cached answers are outdated
                self.responses.drop()
            store_now = self.store_version()
            if store_now != self._store_seen:
                self._store_seen = store_now
                self.responses.drop(lambda key: key[0] == "similar")
            current = fingerprint(self.engine)
            if self.snapshot is not None and current == self.snapshot.fingerprint:
                return False
            snap = load_snapshot(self.engine)
        except Exception as exc:  # noqa: BLE001 - a failed refresh keeps serving the last one
            log.warning("read model refresh failed: %s", exc)
            return False
        with self._write_lock:
            self.snapshot = snap
            self.responses.drop()
        return True

    def note_score(self, user_id: int, movie_id: int, rating: int) -> None:
        """A rating stored through this process: update the read model at once."""
        snap = self.snapshot
        if snap is None:
            return
        with self._write_lock:
            snap.rated.setdefault(user_id, set()).add(movie_id)
            if rating >= 4:
                snap.liked.setdefault(user_id, []).insert(0, (movie_id, rating))
            info = snap.movies.get(movie_id)
            if info is not None:
                info.ratings += 1
                info.rating_sum += rating
            self.responses.drop(lambda key: (key[0] == "recommendations" and key[1] == user_id)
                                or (key[0] == "movie" and key[1] == movie_id)
                                or (key[0] == "user" and key[1] == user_id))


def user_snapshot(engine_or_session: Any, user_id: int) -> Snapshot:
    """A snapshot holding one user's rows only (the database path of the hot endpoints)."""
    snap = Snapshot()
    run = engine_or_session.execute
    exists = run(select(User.id).where(User.id == user_id)).scalar_one_or_none()
    if exists is None:
        return snap
    snap.users = {user_id}
    for movie, rating in run(select(Score.movie_id, Score.rating)
                             .where(Score.user_id == user_id)
                             .order_by(Score.rating.desc(), Score.rated_at.desc())):
        snap.rated.setdefault(user_id, set()).add(movie)
        if rating >= 4:
            snap.liked.setdefault(user_id, []).append((movie, rating))
    snap.predictions[user_id] = [
        (r.movie_id, r.predicted_rating, r.score, r.model_version) for r in run(
            select(Prediction.movie_id, Prediction.predicted_rating, Prediction.score,
                   Prediction.model_version)
            .where(Prediction.user_id == user_id).order_by(Prediction.rank))]
    return snap


def movie_infos(engine_or_session: Any, movie_ids: list[int],
                with_stats: bool = False) -> dict[int, MovieInfo]:
    """MovieInfo for some movies, read from the database."""
    run = engine_or_session.execute
    if not movie_ids:
        return {}
    genres: dict[int, list[str]] = {}
    for movie_id, name in run(select(movie_genres.c.movie_id, Genre.name)
                              .join(Genre, Genre.id == movie_genres.c.genre_id)
                              .where(movie_genres.c.movie_id.in_(movie_ids))
                              .order_by(movie_genres.c.movie_id, Genre.id)):
        genres.setdefault(movie_id, []).append(name)
    out = {m.id: MovieInfo(m.title, m.release_date.year if m.release_date else None,
                           m.release_date, m.imdb_url, genres.get(m.id, []))
           for m in run(select(Movie.id, Movie.title, Movie.release_date, Movie.imdb_url)
                        .where(Movie.id.in_(movie_ids)))}
    if with_stats:
        for movie_id, count, total in run(select(Score.movie_id, func.count(), func.sum(
                Score.rating)).where(Score.movie_id.in_(movie_ids)).group_by(Score.movie_id)):
            if movie_id in out:
                out[movie_id].ratings, out[movie_id].rating_sum = int(count), int(total or 0)
    return out
