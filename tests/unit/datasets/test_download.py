"""Obtaining the CSVs (recsys/datasets/download.py): offline it fails fast and says where to put
the files; files already there are left alone."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from recsys import datasets
from recsys.datasets import FetchError


def test_fetch_fails_fast_offline_and_says_where_to_put_the_files(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(FetchError) as info:
        datasets.fetch(tmp_path / "data", url=f"http://127.0.0.1:{port}/ml-100k.zip")
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert str((tmp_path / "data").resolve()) in message and "RECSYS_DATA_DIR" in message


def test_fetch_does_nothing_when_the_files_are_there(folder: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    datasets.fetch(folder, url="http://127.0.0.1:9/never-called")
    assert before == {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
