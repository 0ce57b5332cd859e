"""WSGI entry point for process-based servers: ``gunicorn recsys.api.wsgi:app``."""

from recsys.api import create_app

app = create_app()
