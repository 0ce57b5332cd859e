"""Render ``assets/pgadmin.png``: pgAdmin's object explorer on the compose file's
pre-registered server, with the recsys tables, as a user of ``docker compose up`` sees it.

Without Docker: a throwaway PostgreSQL stands in for the compose ``postgres`` service (the
real data ingested into it), pgAdmin 4 runs from its own virtualenv with
``docker/pgadmin/servers.json`` loaded (host and port pointed at the throwaway cluster), and
headless Chromium opens the tree through Playwright. Playwright is not a project dependency::

    python -m venv /tmp/pw && /tmp/pw/bin/pip install playwright
    RECSYS_DATA_DIR=../shared/datasets .venv/bin/python assets/pgadmin_screenshot.py \\
        --playwright-python /tmp/pw/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from sqlalchemy.engine import make_url

from recsys.testing import pgadmin
from recsys.testing.ports import free_port
from recsys.testing.postgres import TemporaryPostgres

REPO = Path(__file__).resolve().parents[1]

#: Run with the Playwright interpreter: open the tree down to the recsys tables.
BROWSE = """
import sys
from playwright.sync_api import sync_playwright
url, out = sys.argv[1], sys.argv[2]
path = [("recsys", 0), ("recsys (docker compose)", 0), ("Databases", 0), ("recsys", 1),
        ("Schemas", 0), ("public", 0), ("Tables", 0)]
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(url, wait_until="networkidle", timeout=120000)
    page.wait_for_timeout(3000)
    for label, which in path:
        item = page.get_by_text(label, exact=True).nth(which)
        if label == "recsys (docker compose)":  # opening it connects: empty password, trust
            item.dblclick()
            ok = page.locator("button", has_text="OK").first
            ok.wait_for(state="visible", timeout=10000)
            ok.click()
            page.wait_for_timeout(3000)
        item.click()
        page.wait_for_timeout(800)
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(2500)
    page.get_by_text("scores", exact=True).first.click()
    page.wait_for_timeout(3000)
    page.screenshot(path=out)
    browser.close()
"""


def _wait_http(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"pgAdmin did not answer on {url} within {seconds:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playwright-python", required=True,
                        help="an interpreter with the playwright package installed")
    parser.add_argument("--out", type=Path, default=REPO / "assets" / "pgadmin.png")
    args = parser.parse_args()
    with TemporaryPostgres() as postgres, tempfile.TemporaryDirectory() as scratch:
        url = postgres.url
        env = {**os.environ, "RECSYS_DATABASE_URL": url}
        subprocess.run([sys.executable, "-m", "recsys.cli", "ingest"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        servers = json.loads((REPO / "docker" / "pgadmin" / "servers.json").read_text())
        address = make_url(url)
        servers["Servers"]["1"].update(Host=address.host, Port=address.port)
        local = Path(scratch) / "servers.json"
        local.write_text(json.dumps(servers))
        data = Path(scratch) / "pgadmin"
        pgadmin.load_servers(local, data)
        port = free_port()
        server = pgadmin.serve(data, port)
        try:
            _wait_http(f"http://127.0.0.1:{port}/browser/")
            subprocess.run([args.playwright_python, "-c", BROWSE,
                            f"http://127.0.0.1:{port}/browser/", str(args.out)], check=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
