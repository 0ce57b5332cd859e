"""WSGI entry point for process-based servers: ``gunicorn recsys.api.wsgi:app``."""

from recsys.api import create_app
from recsys.api.server import one_numeric_thread

one_numeric_thread()
app = create_app()
