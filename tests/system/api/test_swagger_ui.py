"""Swagger UI rendered in headless Chromium, as a person sees it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from flask import Flask

from recsys.api.server import BackgroundServer


def test_swagger_ui_renders_in_headless_chromium(app: Flask, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian package chromium is required (apt-get install chromium)"
    with BackgroundServer(app) as server, tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=15000",
             "--dump-dom", server.url + "/swagger"],
            capture_output=True, text=True, timeout=120)
    dom = done.stdout
    assert "swagger-ui" in dom, done.stderr[-2000:]
    for path in ["/recommendations", "/similar_movies", "/movies/{movie_id}", "/health"]:
        assert f'data-path="{path}"' in dom, path
    spec = app.test_client().get("/openapi.json").get_json()
    operations = sum(1 for item in spec["paths"].values() for method in item
                     if method in {"get", "post", "put", "patch", "delete"})
    assert dom.count('class="opblock-summary-method"') == operations == 10
