"""Swagger UI rendered in headless Chromium, as a person sees it."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from PIL import Image

from recsys.api.server import BackgroundServer
from recsys.testing import browser


def test_swagger_ui_renders_in_headless_chromium(app: Flask, tmp_path: Path) -> None:
    with BackgroundServer(app) as server:
        dom = browser.dump_dom(server.url + "/swagger")
        shot = browser.screenshot(server.url + "/swagger", tmp_path / "swagger.png",
                                  height=1600)
    assert "swagger-ui" in dom
    for path in ["/recommendations", "/similar_movies", "/movies/{movie_id}", "/health"]:
        assert f'data-path="{path}"' in dom, path
    spec = app.test_client().get("/openapi.json").get_json()
    operations = sum(1 for item in spec["paths"].values() for method in item
                     if method in {"get", "post", "put", "patch", "delete"})
    assert dom.count('class="opblock-summary-method"') == operations == 10
    # the page a person sees is drawn, not blank: many colours (the coloured method badges)
    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 50
