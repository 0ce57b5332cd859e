"""Helpers for the notebooks: apply their parameters, record metrics for the pipeline summary,
and call the API. Kept here so the notebooks hold narrative, parameters and calls only."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from recsys.config import Settings, get_settings


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def project_root() -> Path:
    """The repository root for a source checkout (editable install), else the working folder."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def show_figures_inline() -> None:
    """Render matplotlib Figures returned by a cell as PNG images (the figures are built without
    pyplot, so IPython has no formatter for them until one is registered)."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import print_figure
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    from matplotlib.figure import Figure

    shell.display_formatter.formatters["image/png"].for_type(
        Figure, lambda figure: print_figure(figure, "png", bbox_inches="tight", dpi=90))


def setup(data_dir: str = "", var_dir: str = "", database_url: str = "",
          vector_backend: str = "", synthetic: bool = False, seed: int | None = None,
          fetch: bool = True) -> Settings:
    """Turn a notebook's parameters into settings, exported as ``RECSYS_*`` variables so that
    every call (and any subprocess) agrees. Empty parameters keep the environment's values;
    relative paths are taken from the project root, not from ``notebooks/``.

    Args:
        synthetic: write a small synthetic dataset under ``<var_dir>/synthetic_data`` and use
            it instead of the course CSVs (fast runs, CI).
        fetch: download the CSVs when the data folder has none (Colab, a fresh machine).
    """
    show_figures_inline()
    root = project_root()

    def absolute(value: str, env: str, default: str) -> str:
        chosen = value or os.environ.get(env) or default
        path = Path(chosen)
        return str(path if path.is_absolute() else (root / path).resolve())

    os.environ["RECSYS_VAR_DIR"] = absolute(var_dir, "RECSYS_VAR_DIR", "var")
    if database_url:
        os.environ["RECSYS_DATABASE_URL"] = database_url
    if vector_backend:
        os.environ["RECSYS_VECTOR_BACKEND"] = vector_backend
    if seed is not None:
        os.environ["RECSYS_SEED"] = str(seed)
    if synthetic:
        from recsys import datasets

        folder = Path(os.environ["RECSYS_VAR_DIR"]) / "synthetic_data"
        if datasets.missing_files(folder):
            datasets.save(datasets.synthetic(n_users=120, n_movies=150, ratings_per_user=30,
                                             seed=7), folder)
        os.environ["RECSYS_DATA_DIR"] = str(folder)
    else:
        os.environ["RECSYS_DATA_DIR"] = absolute(data_dir, "RECSYS_DATA_DIR", "datasets")
    settings = get_settings(env_file=str(root / ".env"))
    if fetch and not synthetic:
        from recsys import datasets

        if datasets.missing_files(settings.data_dir):
            datasets.fetch(settings.data_dir, seed=settings.seed)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    return settings


def record(run_dir: str, notebook: str, **metrics: Any) -> None:
    """Add ``metrics`` to ``<run_dir>/metrics/<notebook>.json`` (no-op outside a pipeline run)."""
    if not run_dir:
        return
    path = Path(run_dir) / "metrics" / f"{notebook}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(path.read_text()) if path.is_file() else {}
    current.update(metrics)
    path.write_text(json.dumps(current, indent=2, default=str))


def call(url: str, method: str = "GET", body: dict[str, Any] | None = None,
         timeout: float = 30.0) -> tuple[int, Any]:
    """One HTTP request to the API: (status, parsed JSON body), error statuses included."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
