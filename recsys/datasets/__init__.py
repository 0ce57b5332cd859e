"""The five course CSVs: obtain, load and validate, save, synthesise. One entry point
(``from recsys import datasets``) over modules that each do one job:

- :mod:`~recsys.datasets.tables`: names, columns, formats; :class:`Dataset`,
  :class:`LoadResult` (a leaf: what runtime modules import for ``Dataset`` and ``GENRES``);
- :mod:`~recsys.datasets.info`: what a dataset is (rating scale, optional parts), DATASET.json;
- :mod:`~recsys.datasets.download`, :mod:`~recsys.datasets.movielens`,
  :mod:`~recsys.datasets.convert`: the official MovieLens archives (100K to 32M) from
  GroupLens, converted;
- :mod:`~recsys.datasets.csvfile` and :mod:`~recsys.datasets.validate`: reading damaged files
  and validating every row, nothing dropped silently;
- :mod:`~recsys.datasets.write`: the original CSV layout back;
  :mod:`~recsys.datasets.small` and :mod:`~recsys.datasets.generate`: synthetic data.

The names below are resolved on first use, so importing a leaf module (``info`` for the
command line's help, ``tables`` for ``Dataset``) does not pull in pandas, fetching,
converting, validating and synthesising.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from recsys.errors import DataError, FetchError

if TYPE_CHECKING:
    from recsys.datasets.convert import convert_ml100k
    from recsys.datasets.download import ML100K_MD5, ML100K_URL, fetch, missing_files, provenance
    from recsys.datasets.info import COURSE, DATASET_FILE, DatasetInfo, read_info, write_info
    from recsys.datasets.movielens import ARCHIVES
    from recsys.datasets.small import synthetic
    from recsys.datasets.tables import (
        COLUMNS,
        DATE_FORMAT,
        DATETIME_FORMAT,
        FILES,
        GENRES,
        RELEASE_DATE_FORMAT,
        REPORT_COLUMNS,
        Dataset,
        LoadResult,
        finalise,
    )
    from recsys.datasets.validate import load, load_scores
    from recsys.datasets.write import save, to_csv_frames

#: Where each name resolved on first use lives.
_LAZY = {
    **dict.fromkeys(("COLUMNS", "DATE_FORMAT", "DATETIME_FORMAT", "FILES", "GENRES",
                     "RELEASE_DATE_FORMAT", "REPORT_COLUMNS", "Dataset", "LoadResult",
                     "finalise"), "tables"),
    "convert_ml100k": "convert",
    **dict.fromkeys(("ML100K_MD5", "ML100K_URL", "fetch", "missing_files", "provenance"),
                    "download"),
    **dict.fromkeys(("COURSE", "DATASET_FILE", "DatasetInfo", "read_info", "write_info"),
                    "info"),
    "ARCHIVES": "movielens",
    "synthetic": "small",
    "load": "validate",
    "load_scores": "validate",
    "save": "write",
    "to_csv_frames": "write",
}

__all__ = ["ARCHIVES", "COLUMNS", "COURSE", "DATASET_FILE", "DATETIME_FORMAT", "DATE_FORMAT",
           "FILES", "GENRES", "ML100K_MD5", "ML100K_URL", "RELEASE_DATE_FORMAT",
           "REPORT_COLUMNS", "DataError", "Dataset", "DatasetInfo", "FetchError", "LoadResult",
           "convert_ml100k", "fetch", "finalise", "load", "load_scores", "missing_files",
           "provenance", "read_info", "save", "synthetic", "to_csv_frames", "write_info"]


def __getattr__(name: str) -> Any:
    """Import the module that holds ``name`` on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'recsys.datasets' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"recsys.datasets.{module}"), name)
    globals()[name] = value
    return value
