"""Every error the API answers is JSON in the shape of RFC 9457 problem details.

``{"type": "about:blank", "title": "Not Found", "status": 404, "detail": "movie 9 does not
exist", "code": 404, "message": "movie 9 does not exist"}`` (``code`` and ``message`` repeat
``status`` and ``detail`` for clients of the first version), plus ``errors`` naming each invalid
parameter by location on a 400. The content type is ``application/problem+json``.

Limits checked before a view runs (whatever WSGI server is in front): request bodies over
:data:`MAX_BODY_BYTES` are 413, a body that is not JSON on a write is 415, a query string
over :data:`MAX_QUERY_BYTES` is 414 and headers over :data:`MAX_HEADER_BYTES` are 431. The
database or the vector store being down is 503 with a public message; the detail goes to the
server log, never to the client.
"""

from __future__ import annotations

import http
import io
import json
import logging
from typing import Any

from flask import Flask, Response, request
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"
MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_BYTES = 4096
MAX_HEADER_BYTES = 16 * 1024

log = logging.getLogger("recsys.api")


class Problem(Schema):
    """An error answer (RFC 9457 problem details). Its field examples are those of an
    unexpected error (what the document's ``default`` answer shows); each documented status
    has an example of its own (:data:`EXAMPLES`)."""

    type = fields.String(metadata={"example": "about:blank"})
    title = fields.String(metadata={"description": "the HTTP status phrase",
                                    "example": "Internal Server Error"})
    status = fields.Integer(metadata={"description": "the HTTP status code", "example": 500})
    detail = fields.String(metadata={"description": "what went wrong, in one sentence",
                                     "example": "unexpected server error (logged); please "
                                                "report it"})
    code = fields.Integer(metadata={"description": "same as status (first API version)",
                                    "example": 500})
    message = fields.String(metadata={"description": "same as detail (first API version)",
                                      "example": "unexpected server error (logged); please "
                                                 "report it"})
    errors = fields.Dict(metadata={"description": "messages per location and parameter "
                                                  "(400 only)"})


def phrase(status: int) -> str:
    """The standard reason phrase of a status code."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(status: int, detail: str, errors: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """The problem-details payload."""
    body: dict[str, Any] = {"type": "about:blank", "title": phrase(status), "status": status,
                            "detail": detail, "code": status, "message": detail}
    if errors:
        body["errors"] = errors
    return body


def problem(status: int, detail: str, errors: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    """A problem-details response."""
    response = Response(json.dumps(problem_body(status, detail, errors)), status=status,
                        mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


DEFAULT_DETAIL = {
    404: "no such resource: check the path (see /swagger for the endpoints)",
    405: "this method is not allowed here (see /swagger for the endpoints)",
    413: f"the request body is larger than {MAX_BODY_BYTES} bytes",
    414: f"the query string is longer than {MAX_QUERY_BYTES} bytes",
    415: "send the body as JSON with the header Content-Type: application/json",
    431: f"the request headers are larger than {MAX_HEADER_BYTES} bytes in all",
    500: "unexpected server error (logged); please report it",
}


def from_http_exception(error: HTTPException) -> Response:
    """Any HTTP error (an ``abort`` with a message, webargs validation, werkzeug's own)."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    detail = data.get("message")
    if not detail and errors:
        whole = [str(m) for location in errors.values() if isinstance(location, list)
                 for m in location]  # about a whole body (not valid JSON), not one field
        names = sorted({str(name) for location in errors.values()
                        if isinstance(location, dict) for name in location})
        detail = "; ".join(
            ([f"the request body: {' '.join(whole)}"] if whole else [])
            + (["invalid or missing parameter(s): " + ", ".join(names)] if names else []))
    if not detail:
        detail = DEFAULT_DETAIL.get(status) or error.description or phrase(status)
    headers = dict(data.get("headers") or {})
    if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    return problem(status, detail, errors, headers)


class BufferChunkedBodies:
    """WSGI middleware: a chunked request body (no Content-Length) is read here, up to one
    byte past ``limit``, and handed on with its length, so :func:`check_request_limits`
    refuses an oversized one with 413 as it does a declared one. (Werkzeug would cut such a
    body at the limit and the JSON parser would then call it invalid: a 400.)"""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        chunked = (environ.get("wsgi.input_terminated")
                   or environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked")
        if chunked and environ.get("REQUEST_METHOD") in ("POST", "PUT", "PATCH"):
            body = environ["wsgi.input"].read(self.limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("wsgi.input_terminated", None)
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)


def check_request_limits() -> Response | None:
    """Refuse oversized or mistyped requests before a view reads them (a Flask
    ``before_request`` hook: returning a response ends the request)."""
    if len(request.query_string) > MAX_QUERY_BYTES:
        return problem(414, DEFAULT_DETAIL[414])
    header_bytes = sum(len(k) + len(v) + 4 for k, v in request.headers.items())
    if header_bytes > MAX_HEADER_BYTES:
        return problem(431, DEFAULT_DETAIL[431])
    if request.routing_exception is not None:
        return None  # no such path, or not this method: 404 or 405 first, whatever the body
    if request.method in ("POST", "PUT", "PATCH"):
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return problem(413, DEFAULT_DETAIL[413])
        if request.mimetype != "application/json":
            given = request.mimetype or "none"
            return problem(415, f"{DEFAULT_DETAIL[415]} (got {given})")
    return None


def unavailable(what: str) -> Any:
    """A handler answering 503 for an outage of ``what``, the cause logged."""

    def handler(exc: Exception) -> Response:
        text = str(exc)
        log.warning("%s unavailable: %s: %s", what, type(exc).__name__,
                    text.splitlines()[0] if text else "")
        if what == "database" and ("no such table" in text or "UndefinedTable" in text):
            return problem(503, "the database has no tables yet: run `recsys ingest`")
        return problem(503, f"the {what} is unavailable; try again shortly")

    return handler


def internal_error(exc: Exception) -> Response:
    """Anything unexpected: logged with its traceback, answered 500 without detail."""
    if isinstance(exc, HTTPException):
        return from_http_exception(exc)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem(500, DEFAULT_DETAIL[500])


def init_app(app: Flask) -> None:
    """Wire the limits and error handlers into ``app``."""
    from sqlalchemy.exc import DBAPIError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from recsys.errors import DatabaseError
    from recsys.vectors.base import VectorStoreUnavailable

    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.before_request(check_request_limits)
    app.wsgi_app = BufferChunkedBodies(app.wsgi_app, MAX_BODY_BYTES)  # type: ignore[method-assign]
    for error in (OperationalError, PoolTimeout, DBAPIError, DatabaseError):
        app.register_error_handler(error, unavailable("database"))
    app.register_error_handler(VectorStoreUnavailable, unavailable("vector store"))
    app.register_error_handler(HTTPException, from_http_exception)
    app.register_error_handler(Exception, internal_error)


def _examples() -> dict[int, dict[str, Any]]:
    """An answer the API really gives for each documented status (the tests make each request
    and compare)."""
    return {
        400: problem_body(400, "invalid or missing parameter(s): k",
                          {"query": {"k": ["Must be greater than or equal to 1 and less than "
                                           "or equal to 100."]}}),
        404: problem_body(404, "user 99999 does not exist"),
        409: problem_body(409, "user 1 already rated movie 1"),
        413: problem_body(413, DEFAULT_DETAIL[413]),
        415: problem_body(415, DEFAULT_DETAIL[415] + " (got text/plain)"),
        503: problem_body(503, "the vector store is unavailable; try again shortly"),
    }


#: The example of each documented error status (Swagger UI shows it under that status).
EXAMPLES = _examples()
