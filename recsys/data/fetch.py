"""Obtaining the CSVs: ``recsys data fetch`` downloads MovieLens 100K from GroupLens (checksum
pinned) and converts it (:mod:`recsys.data.convert`); offline it fails fast and says where to
put the files. A ``PROVENANCE.json`` beside fetched CSVs says what in them is synthesised."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from recsys.data.tables import FILES
from recsys.errors import FetchError

#: Where ``recsys data fetch`` gets MovieLens 100K, and the MD5 GroupLens publishes beside it
#: (ml-100k.zip.md5). GroupLens publishes no SHA-256, so the MD5 is what can be pinned.
ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
ML100K_MD5 = "0e33842e24a9c977be4e0107933c0723"


def missing_files(data_dir: str | Path) -> list[str]:
    """Names of the five CSVs that are not in ``data_dir``."""
    data_dir = Path(data_dir)
    return [name for name in FILES.values() if not (data_dir / name).is_file()]


def fetch(data_dir: str | Path, url: str = ML100K_URL, md5: str = ML100K_MD5,
          timeout: float = 5.0, seed: int = 42) -> list[Path]:
    """Obtain the five CSVs in ``data_dir`` from MovieLens 100K, unless they are already there.

    Downloads the GroupLens archive, checks its published MD5, and converts it into the
    five-table schema with :func:`convert_ml100k`. Offline it fails fast (``timeout`` seconds
    per network operation) with a message that says where to put the files instead.

    Args:
        data_dir: destination folder.
        url: archive location (pinned to GroupLens by default).
        md5: expected MD5 of the archive.
        timeout: seconds allowed per network operation.
        seed: seed for the synthetic course additions (names, workers).

    Returns:
        Paths of the five CSVs.
    """
    data_dir = Path(data_dir)
    if not missing_files(data_dir):
        return [data_dir / name for name in FILES.values()]
    data_dir.mkdir(parents=True, exist_ok=True)
    how_to = (
        f"Put the five course CSVs ({', '.join(FILES.values())}) in {data_dir.resolve()} "
        "or point RECSYS_DATA_DIR at the folder that holds them (see datasets/README.md)."
    )
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "ml-100k.zip"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, \
                    archive.open("wb") as out:
                shutil.copyfileobj(response, out)
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            raise FetchError(f"Could not download {url} ({exc}). {how_to}") from exc
        digest = hashlib.md5(archive.read_bytes()).hexdigest()
        if digest != md5:
            raise FetchError(f"{url} has MD5 {digest}, expected {md5}. {how_to}")
        from recsys.data.convert import convert_ml100k

        return convert_ml100k(archive, data_dir, seed=seed)


#: Beside CSVs written by ``recsys data fetch``: where they come from, what is invented.
PROVENANCE_FILE = "PROVENANCE.json"
FETCHED_PROVENANCE = {
    "source": "MovieLens 100K (GroupLens Research), downloaded and converted by "
              "`recsys data fetch`",
    "synthesised": ["person names (personas.csv, Full Name)",
                    "the workers table (trabajadores.csv) and their occupation ITBA",
                    "birth years (1998 minus the MovieLens age)"],
}


def provenance(data_dir: str | Path) -> str:
    """One line saying where the CSVs in ``data_dir`` come from and what is synthesised."""
    path = Path(data_dir) / PROVENANCE_FILE
    if path.is_file():
        try:
            info = json.loads(path.read_text())
            return (f"{info['source']}; synthesised, not real: "
                    f"{', '.join(info['synthesised'])}")
        except (ValueError, KeyError, TypeError):
            pass
    return "the course CSVs (MovieLens 100K plus the course's additions)"
