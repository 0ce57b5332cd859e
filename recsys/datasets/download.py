"""Obtaining the CSVs: ``recsys data fetch [--dataset NAME]`` downloads an official MovieLens
archive from GroupLens (MD5 pinned, see :mod:`recsys.datasets.movielens`) and converts it into
the five CSVs, with ``DATASET.json`` beside them saying what the dataset is and what in it is
synthesised. Offline it fails fast and says where to put the files instead.
"""

from __future__ import annotations

import hashlib
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from recsys.datasets.info import read_info
from recsys.datasets.movielens import ARCHIVES, archive_named
from recsys.datasets.tables import FILES
from recsys.errors import FetchError

#: Where ``recsys data fetch`` gets MovieLens 100K, and the MD5 GroupLens publishes beside it
#: (ml-100k.zip.md5). GroupLens publishes no SHA-256, so the MD5 is what can be pinned.
ML100K_URL = ARCHIVES["ml-100k"].url
ML100K_MD5 = ARCHIVES["ml-100k"].md5
CHUNK = 1 << 20


def missing_files(data_dir: str | Path) -> list[str]:
    """Names of the five CSVs that are not in ``data_dir``."""
    data_dir = Path(data_dir)
    return [name for name in FILES.values() if not (data_dir / name).is_file()]


def _download(url: str, target: Path, timeout: float) -> str:
    """Stream ``url`` into ``target``; the MD5 of what arrived."""
    digest = hashlib.md5()
    with urllib.request.urlopen(url, timeout=timeout) as response, target.open("wb") as out:
        while chunk := response.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def fetch(data_dir: str | Path, dataset: str = "ml-100k", url: str | None = None,
          md5: str | None = None, timeout: float = 5.0, seed: int = 42) -> list[Path]:
    """Obtain the five CSVs of ``dataset`` in ``data_dir``, unless they are already there.

    Downloads the GroupLens archive, checks its published MD5, and converts it
    (:func:`recsys.datasets.movielens.convert`). Offline it fails fast (``timeout`` seconds per
    network operation) with a message that says where to put the files instead.

    Args:
        data_dir: destination folder.
        dataset: ``ml-100k`` (the course data's source), ``ml-1m``, ``ml-10m``, ``ml-20m``,
            ``ml-25m`` or ``ml-32m``.
        url: archive location (default: GroupLens).
        md5: expected MD5 of the archive (default: the published one).
        timeout: seconds allowed per network operation.
        seed: seed for what is synthesised (ml-100k: names, workers).

    Returns:
        Paths of the five CSVs.

    Raises:
        FetchError: the download failed, the checksum differs, or ``data_dir`` already holds
            another dataset.
    """
    archive = archive_named(dataset)
    data_dir = Path(data_dir)
    if not missing_files(data_dir):
        there = read_info(data_dir).name
        if there not in (dataset, "course") or (there == "course" and dataset != "ml-100k"):
            raise FetchError(f"{data_dir} already holds the {there} dataset; fetch {dataset} "
                             "into another folder (--data-dir or RECSYS_DATA_DIR)")
        return [data_dir / name for name in FILES.values()]
    data_dir.mkdir(parents=True, exist_ok=True)
    url = url or archive.url
    how_to = (
        f"Put the five CSVs ({', '.join(FILES.values())}) in {data_dir.resolve()} "
        "or point RECSYS_DATA_DIR at the folder that holds them (see datasets/README.md)."
    )
    with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
        target = Path(tmp) / f"{dataset}.zip"
        try:
            digest = _download(url, target, timeout)
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            raise FetchError(f"Could not download {url} ({exc}). {how_to}") from exc
        if digest != (md5 or archive.md5):
            raise FetchError(f"{url} has MD5 {digest}, expected {md5 or archive.md5}. {how_to}")
        from recsys.datasets.movielens import convert

        return convert(dataset, target, data_dir, seed=seed)


def provenance(data_dir: str | Path) -> str:
    """One line saying where the CSVs in ``data_dir`` come from and what is synthesised."""
    try:
        return read_info(data_dir).provenance()
    except Exception:  # a damaged description must not break a notebook's first cell
        return "the five CSVs (their DATASET.json cannot be read)"

