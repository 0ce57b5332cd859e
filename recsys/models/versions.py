"""Keeping the model folder in bounds: how many versions stay, leftovers of killed saves, and
whether the disk can take the next version before hours of training are spent on it.

Every ``recsys train`` writes a new version (tens of MB at 100K ratings, a few hundred at
25M) and the API serves the one ``LATEST`` names. :func:`prune` keeps the newest
``RECSYS_KEEP_VERSIONS`` (default 5; the one in use always) and deletes the ``.tmp-*`` folder
of a save that was killed; :func:`check_space` refuses to start training when the disk
cannot hold one more version, in one line, instead of failing after the whole fit.
"""

from __future__ import annotations

import errno
import shutil
import time
from pathlib import Path

from recsys.errors import ModelError

#: A save that has not finished within this many seconds was killed (a save takes seconds).
ABANDONED_AFTER = 3600.0
#: What a first version is assumed to need when no earlier one shows its size.
FIRST_VERSION_BYTES = 64 * 1024 ** 2
MB = 1024 ** 2


def versions(root: Path) -> list[Path]:
    """The saved versions under ``root``, oldest first (their names start with the time)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and (p / "meta.json").is_file())


def folder_bytes(folder: Path) -> int:
    """The size of every file under ``folder``."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def prune(root: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` versions (never the one ``LATEST`` names) and the
    folders of saves abandoned over an hour ago; returns what was deleted."""
    latest_file = root / "LATEST"
    latest = latest_file.read_text().strip() if latest_file.is_file() else None
    saved = versions(root)
    doomed = [p for p in saved[:-max(keep, 1)] if p.name != latest]
    cutoff = time.time() - ABANDONED_AFTER
    doomed += [p for p in root.glob(".tmp-*") if p.is_dir() and p.stat().st_mtime < cutoff]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return doomed


def check_space(root: Path) -> None:
    """Refuse (one line) when the disk under ``root`` cannot hold another version: the size
    of the newest one (or 64 MB before the first), with half as much again to spare.

    Raises:
        ModelError: too little free space.
    """
    root.mkdir(parents=True, exist_ok=True)
    saved = versions(root)
    needed = int(1.5 * (folder_bytes(saved[-1]) if saved else FIRST_VERSION_BYTES))
    free = shutil.disk_usage(root).free
    if free < needed:
        raise ModelError(f"only {free / MB:.0f} MB free under {root}; a model version needs "
                         f"about {needed / MB:.0f} MB: free some space (or lower "
                         "RECSYS_KEEP_VERSIONS) before training")


def no_space(exc: OSError, root: Path) -> ModelError | None:
    """The one-line error for a save that ran out of disk space, or None for another error."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ModelError(f"the disk under {root} filled up while saving the model: nothing "
                          "was saved (the previous version is still served); free some space "
                          "and run `recsys train` again")
    return None
