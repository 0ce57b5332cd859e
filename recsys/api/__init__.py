"""Flask application factory for the recommendations API.

``create_app()`` wires the backing services from settings (or the ones given, in tests and
notebooks), registers the endpoints, the generated OpenAPI 3 document at ``/openapi.json`` and
Swagger UI at ``/swagger``, whose JavaScript and CSS are served by the app itself (from the
swagger-ui-bundle package), so the page works with no internet.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, send_from_directory
from flask_smorest import Api

from recsys import __version__
from recsys.config import Settings, get_settings

SWAGGER_ASSETS = "/swagger-ui-assets/"


class _Api(Api):
    """flask-smorest's Api, with a readable ``message`` on validation errors that names every
    invalid parameter (the ``errors`` field keeps the details per location)."""

    def handle_http_exception(self, error: Any) -> Any:
        data = getattr(error, "data", None)
        if data and "messages" in data and "message" not in data:
            names = sorted({name for location in data["messages"].values()
                            for name in location})
            data["message"] = "invalid or missing parameter(s): " + ", ".join(names)
        return super().handle_http_exception(error)


def create_app(settings: Settings | None = None, **services: Any) -> Flask:
    """Build the app.

    Args:
        settings: configuration (default: from the environment).
        **services: optional ``engine``, ``store`` and ``model`` to use instead of connecting
            to what the settings name.
    """
    import swagger_ui_bundle

    from recsys.api.routes import api as blueprint
    from recsys.api.routes import register_error_handlers
    from recsys.api.services import Services

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
        API_SPEC_OPTIONS={"info": {"description": (
            "Recommendations, similar movies, ratings and user clusters from the recsys "
            "pipeline. Errors are JSON: 400 names the invalid parameter, 404 an unknown id, "
            "503 a backing service that is down.")}},
        JSON_SORT_KEYS=False,
    )
    app.extensions["recsys"] = Services.from_settings(settings, **services)
    app.teardown_appcontext(app.extensions["recsys"].close_session)

    @app.get(SWAGGER_ASSETS + "<path:filename>")
    def swagger_assets(filename: str) -> Any:
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename,
                                   max_age=86400)

    api = _Api(app)
    api.register_blueprint(blueprint)
    register_error_handlers(app)
    return app
