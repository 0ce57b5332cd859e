"""Serving the API: production WSGI server (waitress, several threads) in the foreground, or
in a background thread that a notebook or a test can start and stop."""

from __future__ import annotations

import threading
import time
import urllib.request
from typing import Any

from waitress import serve
from waitress.server import create_server


def run(app: Any, host: str = "127.0.0.1", port: int = 8000, threads: int = 8) -> None:
    """Serve ``app`` with waitress until interrupted."""
    print(f"Serving the recsys API on http://{host}:{port} (Swagger UI at /swagger)",
          flush=True)
    serve(app, host=host, port=port, threads=threads, connection_limit=512,
          channel_timeout=30, ident="recsys")


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
        self._thread = threading.Thread(target=self._server.run, daemon=True,
                                        name="recsys-api")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> "BackgroundServer":
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
        self._server.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
