"""The five course CSVs: obtain, load and validate, save, synthesise (the public face of
:mod:`recsys.data`, whose modules each do one of these jobs).

- :mod:`recsys.data.tables`: names, columns, formats; :class:`Dataset`, :class:`LoadResult`;
- :mod:`recsys.data.fetch`, :mod:`recsys.data.movielens` and :mod:`recsys.data.convert`: the
  official MovieLens archives (100K to 32M) from GroupLens, converted;
- :mod:`recsys.data.info`: what a dataset is (rating scale, optional parts), DATASET.json;
- :mod:`recsys.data.csvfile` and :mod:`recsys.data.validate`: reading damaged files and
  validating every row, nothing dropped silently;
- :mod:`recsys.data.write`: the original CSV layout back; :mod:`recsys.data.synthetic`.
"""

from recsys.data.convert import convert_ml100k
from recsys.data.fetch import ML100K_MD5, ML100K_URL, fetch, missing_files, provenance
from recsys.data.info import COURSE, DATASET_FILE, DatasetInfo, read_info, write_info
from recsys.data.movielens import ARCHIVES
from recsys.data.synthetic import synthetic
from recsys.data.tables import (
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
from recsys.data.validate import load, load_scores
from recsys.data.write import save, to_csv_frames
from recsys.errors import DataError, FetchError

__all__ = ["ARCHIVES", "COLUMNS", "COURSE", "DATASET_FILE", "DATETIME_FORMAT", "DATE_FORMAT",
           "FILES", "GENRES", "ML100K_MD5", "ML100K_URL", "RELEASE_DATE_FORMAT",
           "REPORT_COLUMNS", "DataError", "Dataset", "FetchError", "LoadResult",
           "convert_ml100k", "fetch", "finalise", "load", "load_scores", "missing_files",
           "provenance", "read_info", "save", "synthetic", "to_csv_frames", "write_info",
           "DatasetInfo"]
