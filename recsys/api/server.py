"""Serving the API.

- :func:`run_gunicorn` (the default of ``recsys serve`` on Linux/macOS): gunicorn with
  several worker processes; the master reads the API's read model once, and each worker
  builds its own app after the fork from that copy (its own database pool, model and vector
  store; the read model's pages shared until written). Measured on 2 cores, it keeps
  p99 latency under 50 ms at 32 connections where one multi-threaded process does not
  (bench/RESULTS.md).
- :func:`run` : waitress, one process with several threads (works everywhere, Windows too).
- :class:`BackgroundServer`: waitress in a daemon thread, for notebooks and tests.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from typing import TYPE_CHECKING, Any

from waitress import serve
from waitress.server import create_server

if TYPE_CHECKING:
    from recsys.config import Settings


def one_numeric_thread() -> None:
    """Keep NumPy's BLAS (and OpenMP) to one thread in this serving process.

    A request's vector search or explanation is one small product; BLAS would split the
    larger ones (62,000 movie vectors) over threads that then wait for cores already busy
    with the other workers, the database and the clients. Measured beside a busy core: knn
    over 62,423 vectors p50 5.7 ms with the default threads, 1.4 ms with one
    (bench/RESULTS.md, "Scale"). Parallelism comes from worker processes instead.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def run(app: Any, host: str = "127.0.0.1", port: int = 8000, threads: int = 8) -> None:
    """Serve ``app`` with waitress until interrupted."""
    one_numeric_thread()
    print(f"Serving the recsys API on http://{host}:{port} (Swagger UI at /swagger)",
          flush=True)
    serve(app, host=host, port=port, threads=threads, connection_limit=512,
          channel_timeout=30, ident="recsys")


def run_gunicorn(settings: Settings | None = None, host: str = "127.0.0.1", port: int = 8000,
                 workers: int = 2, timeout: int = 60, preload: bool = True) -> None:
    """Serve with gunicorn sync workers until interrupted (each worker calls create_app).

    ``preload``: the master reads the read model once before forking, and every worker
    starts from that copy (:func:`recsys.readmodel.refresh.preload_snapshot`); the model, the
    vector store and the database pool are still each worker's own."""
    from gunicorn.app.base import BaseApplication

    from recsys.api import create_app
    from recsys.config import get_settings
    from recsys.readmodel import preload_snapshot

    settings = settings or get_settings()

    class Application(BaseApplication):  # gunicorn's documented custom-application hook
        def load_config(self) -> None:
            options = {"bind": f"{host}:{port}", "workers": workers,
                       "worker_class": "recsys.api.gunicorn_worker.JSONErrorSyncWorker",
                       "timeout": timeout, "backlog": 2048, "accesslog": None,
                       "proc_name": "recsys-api"}
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:  # in each worker, after the fork
            one_numeric_thread()
            return create_app(settings, snapshot=snapshot)

    print(f"Serving the recsys API on http://{host}:{port} with {workers} gunicorn workers "
          "(Swagger UI at /swagger)", flush=True)
    one_numeric_thread()  # before the fork too: a worker's BLAS starts from the master's
    snapshot = (preload_snapshot(settings.database_url, settings.api_memory_ratings)
                if preload else None)
    Application().run()


class BackgroundServer:
    """The API on a waitress server in a daemon thread.

    Example::

        server = BackgroundServer(create_app(), port=0).start()
        ...  # call server.url + "/health"
        server.stop()
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0,
                 threads: int = 8) -> None:
        self._server = create_server(app, host=host, port=port, threads=threads,
                                     connection_limit=512, ident="recsys")
        self.host = host
        self.port = int(self._server.effective_port)
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, daemon=True, name="recsys-api")

    def _serve(self) -> None:
        try:
            self._server.run()
        except OSError:  # the sockets were closed under the loop by stop()
            if not self._stopping:
                raise

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        """Start serving and wait until the socket answers."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/openapi.json", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the API did not start on {self.url} within {timeout} s")

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._stopping = True
        self._server.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
