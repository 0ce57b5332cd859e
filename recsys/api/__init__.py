"""Flask application factory for the recommendations API.

``create_app()`` wires the backing services from settings (or the ones given, in tests and
notebooks), registers the endpoints grouped by tag, the generated OpenAPI 3 document at
``/openapi.json`` and Swagger UI at ``/swagger``, whose JavaScript and CSS are served by the
app itself (from the swagger-ui-bundle package), so the page works with no internet. Errors
are problem+json (:mod:`recsys.api.errors`); each request is logged in one line on the
``recsys.api.access`` logger (``recsys serve`` shows it).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, g, request, send_from_directory
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from recsys import __version__
from recsys.api.errors import PROBLEM_JSON, Problem, from_http_exception
from recsys.config import Settings, get_settings

SWAGGER_ASSETS = "/swagger-ui-assets/"
access_log = logging.getLogger("recsys.api.access")


class _Api(Api):
    """flask-smorest's Api answering and documenting errors as problem+json."""

    ERROR_SCHEMA = Problem

    def handle_http_exception(self, error: HTTPException) -> Any:
        return from_http_exception(error)

    DEFAULT_RESPONSE_CONTENT_TYPE: str = "application/json"

    def _register_responses(self) -> None:
        default = self.DEFAULT_RESPONSE_CONTENT_TYPE
        self.DEFAULT_RESPONSE_CONTENT_TYPE = PROBLEM_JSON
        try:
            super()._register_responses()
        finally:
            self.DEFAULT_RESPONSE_CONTENT_TYPE = default


DESCRIPTION = (
    "Recommendations, similar movies, the catalogue, ratings and user clusters from the "
    "recsys pipeline.\n\nErrors are JSON problem details (RFC 9457): 400 names every invalid "
    "parameter, 404 an unknown id, 405 a method the path does not take, 409 a second rating "
    "of the same movie, 413 an oversized body, 414 an overlong URL, 415 a body that is not "
    "JSON, 431 oversized headers, 503 a backing service that is down or not ready. Date-times "
    "are ISO 8601 in UTC with an explicit offset.")


def _log_request(response: Any) -> Any:
    started = g.pop("started", None)
    if started is not None:
        access_log.info("%s %s %s %.1f ms", request.method, request.full_path.rstrip("?"),
                        response.status_code, (time.perf_counter() - started) * 1000)
    return response


def create_app(settings: Settings | None = None, **services: Any) -> Flask:
    """Build the app.

    Args:
        settings: configuration (default: from the environment).
        **services: optional ``engine``, ``store`` and ``model`` to use instead of connecting
            to what the settings name, and ``snapshot``, a read model loaded beforehand
            (:func:`recsys.readmodel.refresh.preload_snapshot`).
    """
    import swagger_ui_bundle

    from recsys.api import errors
    from recsys.api.openapi import state_rating_scale
    from recsys.api.services import Services
    from recsys.api.views import BLUEPRINTS, IdConverter, id_parameter_schema

    settings = settings or get_settings()
    app = Flask("recsys")
    app.config.update(
        API_TITLE="recsys movie recommendations",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="swagger",
        OPENAPI_SWAGGER_UI_URL=SWAGGER_ASSETS,
        API_SPEC_OPTIONS={"info": {"description": DESCRIPTION}},
        JSON_SORT_KEYS=False,
    )
    app.url_map.converters["id"] = IdConverter
    app.extensions["recsys"] = Services.from_settings(settings, **services)
    app.teardown_appcontext(app.extensions["recsys"].close_session)
    app.before_request(lambda: setattr(g, "started", time.perf_counter()))
    app.after_request(_log_request)

    @app.get(SWAGGER_ASSETS + "<path:filename>")
    def swagger_assets(filename: str) -> Any:
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename,
                                   max_age=86400)

    api = _Api(app)
    api.register_converter(IdConverter, id_parameter_schema)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    state_rating_scale(api.spec, app.extensions["recsys"].documented_scale())
    errors.init_app(app)
    return app
