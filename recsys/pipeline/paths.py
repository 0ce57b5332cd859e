"""Where the pipeline finds its notebooks and writes their progress: the names the runner
(:mod:`recsys.pipeline.runner`) and the notebooks' helpers (:mod:`recsys.pipeline.notebook`)
share, in a leaf both import."""

from __future__ import annotations

import os
from pathlib import Path

#: The notebooks, in the order the pipeline runs them.
NOTEBOOKS = ("01_ingestion", "02_entities", "03_embeddings", "04_training",
             "05_batch_prediction", "06_kmeans", "07_api_smoke")
#: The repository root of a source checkout (an installed package has no notebooks here).
SOURCE_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_NOTEBOOKS_DIR = SOURCE_ROOT / "notebooks"
#: Where the pipeline's console reads progress lines (inside the run folder).
PROGRESS_FILE = "progress.log"


def find_notebooks_dir() -> Path:
    """``RECSYS_NOTEBOOKS_DIR``, else the source checkout's ``notebooks/``, else ``./notebooks``
    (an installed package, as in the Docker image, whose working folder holds them)."""
    if os.environ.get("RECSYS_NOTEBOOKS_DIR"):
        return Path(os.environ["RECSYS_NOTEBOOKS_DIR"])
    if DEFAULT_NOTEBOOKS_DIR.is_dir():
        return DEFAULT_NOTEBOOKS_DIR
    return Path.cwd() / "notebooks"
