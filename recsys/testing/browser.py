"""Headless Chromium (Debian package ``chromium``) for the tests that look at a page as a
person would: the DOM after the scripts ran, or a screenshot."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

#: Flags that keep a headless run quiet and self-contained (no sync, no updates, no sandbox:
#: CI runs as root).
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")


def chromium() -> str:
    """The browser's path, or an AssertionError saying what to install."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Debian package chromium is required (apt-get install chromium)"
    return found


def _run(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


def dump_dom(url: str, wait_ms: int = 15000) -> str:
    """The page's DOM once its scripts ran (up to ``wait_ms`` of virtual time)."""
    return _run(f"--virtual-time-budget={wait_ms}", "--dump-dom", url).stdout


def screenshot(url: str, target: Path, width: int = 1200, height: int = 4000) -> Path:
    """A PNG of the page's first ``height`` pixels at ``width``, written to ``target``."""
    done = _run(f"--window-size={width},{height}", "--virtual-time-budget=5000",
                f"--screenshot={target}", url)
    assert target.is_file(), done.stderr[-2000:]
    return target
