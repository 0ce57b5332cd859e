"""The model folder in bounds (issue "Reliability, round 3" #10): versions kept, killed saves
cleaned, a full disk said in one line before training, a save that runs out of space leaving
the previous version served."""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections import namedtuple
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recsys import datasets, training
from recsys.errors import ModelError
from recsys.models import Recommender, versions


def _fake_version(root: Path, name: str, size: int = 10) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text("{}")
    (folder / "arrays.npz").write_bytes(b"x" * size)
    return folder


def test_prune_keeps_the_newest_and_the_served_one_and_drops_killed_saves(
        tmp_path: Path) -> None:
    names = [f"2026113{i}T000000-abcdef0{i}" for i in range(7)]
    for name in names:
        _fake_version(tmp_path, name)
    (tmp_path / "LATEST").write_text(names[1] + "\n")  # an older version is being served
    killed, saving = tmp_path / ".tmp-killed", tmp_path / ".tmp-now"
    killed.mkdir()
    saving.mkdir()
    hours_ago = time.time() - 2 * 3600
    os.utime(killed, (hours_ago, hours_ago))
    deleted = versions.prune(tmp_path, keep=3)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([".tmp-now", "LATEST", names[1], *names[-3:]])
    assert killed in deleted and saving not in deleted


def test_training_refuses_at_once_when_the_disk_cannot_hold_a_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_version(tmp_path, "20261130T000000-abcdef01", size=40 * 1024 ** 2)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9, 30 * 1024 ** 2))
    data = datasets.synthetic(n_users=20, n_movies=30, ratings_per_user=8, seed=1)
    fits: list[Any] = []
    monkeypatch.setattr(Recommender, "fit", lambda self, *a, **k: fits.append(1))
    with pytest.raises(ModelError, match=r"only 30 MB free .* needs about 60 MB") as caught:
        training.train(data, tmp_path, progress=False)
    assert "\n" not in str(caught.value) and not fits


@pytest.mark.training
def test_a_save_that_runs_out_of_space_leaves_the_previous_version(
        api_model: Any, api_model_root: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "model"
    shutil.copytree(api_model_root, root)
    before = (root / "LATEST").read_text()

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", full)
    version = api_model.version
    try:
        with pytest.raises(ModelError, match="filled up while saving"):
            api_model.save(root)
    finally:
        api_model.version = version  # the session's model keeps its identity
    assert (root / "LATEST").read_text() == before
    assert not list(root.glob(".tmp-*"))
