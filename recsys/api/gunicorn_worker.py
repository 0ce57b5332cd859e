"""A gunicorn worker whose own error answers are JSON problem details too.

Gunicorn refuses some requests before the app sees them (a request line over
``limit_request_line``, headers over ``limit_request_field_size``, a malformed request line)
and writes an HTML page. This worker answers them in the API's problem+json shape instead,
with the same status codes; anything that is not the client's fault is left to gunicorn.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn.http import errors as http_errors
from gunicorn.workers.sync import SyncWorker

from recsys.api.errors import PROBLEM_JSON, phrase, problem_body

#: Gunicorn's client errors and the status each gets (others of its client errors are 400).
STATUS = {"LimitRequestLine": 414, "LimitRequestHeaders": 431, "ExpectationFailed": 417,
          "UnsupportedTransferCoding": 501, "ForbiddenProxyRequest": 403}
CLIENT_ERRORS = tuple(getattr(http_errors, name) for name in (
    "InvalidRequestLine", "InvalidRequestMethod", "InvalidHTTPVersion", "InvalidHeader",
    "InvalidHeaderName", "LimitRequestLine", "LimitRequestHeaders", "InvalidProxyLine",
    "ForbiddenProxyRequest", "InvalidSchemeHeaders", "UnsupportedTransferCoding",
    "ObsoleteFolding", "ExpectationFailed", "InvalidChunkSize", "ChunkMissingTerminator",
    "InvalidChunkExtension") if hasattr(http_errors, name))
DETAIL = {414: "the request line (path and query string) is too long",
          431: "the request headers are too large"}


class JSONErrorSyncWorker(SyncWorker):
    """gunicorn's sync worker, answering its own client errors as problem+json."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        if not isinstance(exc, CLIENT_ERRORS):
            super().handle_error(req, client, addr, exc)
            return
        status = STATUS.get(type(exc).__name__, 400)
        detail = DETAIL.get(status) or f"malformed request: {exc}"
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        body = json.dumps(problem_body(status, detail)).encode()
        head = (f"HTTP/1.1 {status} {phrase(status)}\r\nConnection: close\r\n"
                f"Content-Type: {PROBLEM_JSON}\r\nContent-Length: {len(body)}\r\n\r\n")
        try:
            client.sendall(head.encode("latin-1") + body)
        except OSError:
            self.log.debug("Failed to send error message.")
