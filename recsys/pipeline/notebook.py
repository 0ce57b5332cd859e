"""Helpers for the notebooks, so that the notebooks hold narrative, parameters and calls only.

- :func:`setup` turns a notebook's parameters into :class:`~recsys.config.Settings` (paths
  taken from the repository root, not from ``notebooks/``), fetching the data when the folder
  has none;
- ``ensure_*`` let every notebook stand on its own: what it needs and is quick to build (the
  database, the vector indexes, a short training) is built, with one line saying so; what is
  not stops the notebook with one line naming the notebook to run first (:class:`Stop`, shown
  without a traceback);
- :func:`record` and :func:`heartbeat` talk to the pipeline (metrics for the summary, a
  progress line for the console); :func:`call` calls the API and shows status and JSON.
"""

from __future__ import annotations

import base64
import json
import time
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsys.config import Settings, absolute, absolute_sqlite_url, get_settings
from recsys.errors import RecsysError
from recsys.pipeline.paths import PROGRESS_FILE, SOURCE_ROOT, find_notebooks_dir

if TYPE_CHECKING:
    from recsys.datasets.tables import Dataset
    from recsys.models import Recommender


class Stop(RecsysError):
    """Stops a notebook with one line (IPython shows ``_render_traceback_`` instead of a
    traceback)."""

    def _render_traceback_(self) -> list[str]:
        return [f"\u26d4 {self}"]


def project_root() -> Path:
    """The repository root for a source checkout (editable install), else the working folder."""
    return SOURCE_ROOT if (SOURCE_ROOT / "pyproject.toml").is_file() else Path.cwd()


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

    def png(figure: Figure) -> bytes:
        return print_figure(figure, "png", bbox_inches="tight", dpi=90)

    def html(figure: Figure) -> str:  # the same image, with its titles as alternative text
        encoded = base64.b64encode(png(figure)).decode()
        return (f'<img alt="{escape(figure_text(figure))}" '
                f'src="data:image/png;base64,{encoded}"/>')

    formatters = shell.display_formatter.formatters
    formatters["image/png"].for_type(Figure, png)
    formatters["text/html"].for_type(Figure, html)


def figure_text(figure: Any) -> str:
    """A figure described in words for a reader who cannot see it: its overall title, then
    each panel's title and axis labels ("Figure: Elbow: inertia by k (k, inertia); ...")."""
    parts = [figure.get_suptitle()] if figure.get_suptitle() else []
    for ax in figure.axes:
        labels = ", ".join(label for label in (ax.get_xlabel(), ax.get_ylabel()) if label)
        title = ax.get_title() or "a chart"
        parts.append(f"{title} ({labels})" if labels else title)
    return "Figure: " + "; ".join(parts) if parts else "Figure"


def _display_options() -> None:
    """Tables as a reader wants them: whole texts (no "kept with the date un..."), three
    decimals."""
    import pandas as pd

    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.precision", 3)
    pd.set_option("display.width", 160)


def setup(data_dir: str = "", var_dir: str = "", database_url: str = "",
          vector_backend: str = "", synthetic: bool = False, seed: int | None = None,
          fetch: bool = True) -> Settings:
    """Settings for a notebook: its parameters on top of the environment (``RECSYS_*`` and
    the repository's ``.env``). Empty parameters keep the environment's values; relative paths
    are taken from the repository root.

    Args:
        synthetic: write a small synthetic dataset under ``<var_dir>/synthetic_data`` and use
            it instead of the course CSVs (fast runs, CI).
        fetch: download the CSVs when the data folder has none (Colab, a fresh machine).
    """
    show_figures_inline()
    _display_options()
    root = project_root()
    settings = get_settings(env_file=root / ".env", base=root)
    changes: dict[str, Any] = {}
    if var_dir:
        changes["var_dir"] = absolute(var_dir, root)
        if not database_url and settings.database_url.endswith(
                str(settings.var_dir / "recsys.db")):
            changes["database_url"] = f"sqlite:///{changes['var_dir'] / 'recsys.db'}"
    if database_url:
        changes["database_url"] = absolute_sqlite_url(database_url, root)
    if vector_backend:
        changes["vector_backend"] = vector_backend
    if seed is not None:
        changes["seed"] = int(seed)
    if data_dir:
        changes["data_dir"] = absolute(data_dir, root)
    settings = settings.replace(**changes) if changes else settings
    if synthetic:
        from recsys import datasets

        folder = settings.var_dir / "synthetic_data"
        if datasets.missing_files(folder):
            datasets.save(datasets.synthetic(n_users=120, n_movies=150, ratings_per_user=30,
                                             seed=7), folder)
        settings = settings.replace(data_dir=folder)
    elif fetch:
        from recsys import datasets

        if datasets.missing_files(settings.data_dir):
            print(f"No course CSVs in {settings.data_dir}: fetching MovieLens 100K and "
                  "synthesising the course additions (names, workers)...")
            datasets.fetch(settings.data_dir, seed=settings.seed)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    return settings


class Sentence(str):
    """A line for the reader, shown as Markdown (wrapped between words, never inside one);
    plain text everywhere else."""

    def _repr_markdown_(self) -> str:
        return str(self)


def say(text: str) -> Sentence:
    """``text`` as a sentence a notebook shows (return it from a cell)."""
    return Sentence(text)


def describe(settings: Settings, synthetic: bool = False) -> Any:
    """What this notebook works on, as a small table: the data (and what in it is
    synthesised), the database (password hidden), the vector store and the local state."""
    import pandas as pd

    from recsys import datasets
    from recsys.db.engine import masked

    data = ("a small synthetic dataset (every name, rating and date invented)" if synthetic
            else datasets.provenance(settings.data_dir))
    rows = {"data": f"{settings.data_dir}: {data}",
            "database": masked(settings.database_url),
            "vector store": settings.vector_backend,
            "local state (var)": str(settings.var_dir)}
    return pd.DataFrame({"": list(rows.values())}, index=list(rows))


def peek(data_dir: str | Path, rows: int = 3) -> None:
    """Show the first rows of each CSV as it is on disk, with its name and number of lines."""
    import pandas as pd
    from IPython.display import Markdown, display

    from recsys import datasets

    for name in datasets.FILES.values():
        path = Path(data_dir) / name
        with path.open("rb") as handle:
            lines = sum(1 for _ in handle) - 1
        head = pd.read_csv(path, nrows=rows, dtype=str, keep_default_na=False)
        head.columns = ["(no name)" if str(c).startswith("Unnamed: ") else c
                        for c in head.columns]
        display(Markdown(f"**{name}** ({lines:,} rows)"), head)


# -- standing alone -----------------------------------------------------------------------------


def ensure_data(settings: Settings) -> None:
    """The database holds the data; when it does not, ingest the CSVs now (about a second)."""
    from recsys import datasets, db
    from recsys.errors import DatabaseError

    engine = db.make_engine(settings.database_url)
    try:
        db.require_data(engine)
        if db.table_counts(engine)["scores"]:
            return
    except DatabaseError as exc:
        if "cannot connect" in str(exc) or "refused" in str(exc):
            raise Stop(str(exc)) from None
    finally:
        engine.dispose()
    print("The database is empty: ingesting the CSVs now (what notebook 01 does).")
    result = datasets.load(settings.data_dir, report_dir=settings.reports_dir)
    engine = db.make_engine(settings.database_url)
    try:
        db.ingest(result.dataset, engine)
    finally:
        engine.dispose()


def ensure_model(settings: Settings, data: Any, epochs: int = 3) -> Any:
    """The latest trained model; when there is none, a quick one is trained now (one network,
    a few epochs: notebook 04 trains the real one) and saved."""
    from recsys.errors import ModelNotFound
    from recsys.models import ModelConfig, Recommender

    try:
        return Recommender.load(settings.model_dir, data=data)
    except ModelNotFound:
        pass
    except RecsysError as exc:
        raise Stop(f"{exc} (or run notebook 04_training again)") from None
    print(f"No trained model yet: training a quick one now ({epochs} epochs, one network; "
          "notebook 04_training trains the real one).")
    from recsys import training

    config = ModelConfig(max_epochs=epochs, ensemble=1, seed=settings.seed)
    model, _ = training.train(data, settings.model_dir, config, holdout=0, progress=False)
    return model


def ensure_vectors(settings: Settings, data: Dataset, model: Recommender | None) -> Any:
    """The vector store, with content and learned vectors indexed (built now if missing)."""
    from recsys.vectors import embeddings, open_store

    store = open_store(settings)
    try:
        indexed = store.exists("movies_learned") and store.exists("movies_content")
    except RecsysError as exc:
        raise Stop(f"the vector store is unavailable: {exc}") from None
    if not indexed:
        print("No vectors indexed yet: indexing content and learned vectors now "
              "(what notebooks 03 and 04 do).")
        embeddings.index_all(data, store, model)
    return store


def require_predictions(settings: Settings) -> None:
    """Stop unless batch predictions are stored."""
    from recsys import db

    engine = db.make_engine(settings.database_url)
    try:
        if not db.table_counts(engine)["predictions"]:
            raise Stop("no batch predictions stored yet: run notebook 05_batch_prediction "
                       "first (or `recsys predict`)")
    finally:
        engine.dispose()


# -- talking to the pipeline ---------------------------------------------------------------------


def without_passwords(value: Any) -> Any:
    """``value`` with every URL that carries a password masked (in nested lists and dicts
    too): what a run records goes to disk, where no secret belongs."""
    if isinstance(value, str):
        if "://" in value and "@" in value:
            from recsys.db.engine import masked

            shown = masked(value)
            return value if shown == "<unparsable database URL>" else shown
        return value
    if isinstance(value, dict):
        return {k: without_passwords(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_passwords(v) for v in value]
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # a table: its rows
        return without_passwords(value.to_dict(orient="records"))
    return value


def as_table(values: Any, column: str, index: str = "") -> Any:
    """A mapping (or a dataclass, such as a model configuration) shown as a one-column
    table: one row per key, and one per entry of a nested mapping."""
    import dataclasses

    import pandas as pd

    if dataclasses.is_dataclass(values) and not isinstance(values, type):
        values = dataclasses.asdict(values)
    flat: dict[str, Any] = {}
    for key, value in values.items():  # a nested mapping: one row per entry, not a dict
        if isinstance(value, dict):
            flat.update({f"{key}: {inner}": v for inner, v in value.items()})
        else:
            flat[key] = value
    shown = {k: v if isinstance(v, str | int | float | bool) or v is None else str(v)
             for k, v in flat.items()}
    return pd.Series(shown, name=column, dtype=object).rename_axis(index or None).to_frame()


def sample_predictions(model: Recommender, users: int = 200) -> Any:
    """The model's predicted rating for every movie, for its first ``users`` users: what the
    rating histogram shows."""
    import numpy as np

    some = model.user_ids[:users]
    return model.predict(np.repeat(some, len(model.movie_ids)),
                         np.tile(model.movie_ids, len(some)))


def record(run_dir: str, notebook: str, **metrics: Any) -> None:
    """Add ``metrics`` to ``<run_dir>/metrics/<notebook>.json`` (no-op outside a pipeline run;
    a URL's password is masked)."""
    if not run_dir:
        return
    path = Path(run_dir) / "metrics" / f"{notebook}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(path.read_text()) if path.is_file() else {}
    current.update(without_passwords(metrics))
    path.write_text(json.dumps(current, indent=2, default=str))


def heartbeat(run_dir: str, message: str) -> None:
    """One progress line for the pipeline's console (no-op outside a pipeline run)."""
    if not run_dir:
        return
    with (Path(run_dir) / PROGRESS_FILE).open("a", encoding="utf-8") as out:
        out.write(f"{time.time():.3f} {message}\n")


def progress(run_dir: str) -> Any:
    """Where a long computation's progress lines go: in a pipeline run, to the console's
    heartbeat; in an interactive notebook, to one line under the cell that keeps updating
    (rather than a screenful of epochs)."""
    if run_dir:
        return lambda line: heartbeat(run_dir, line)
    try:
        from IPython.display import display
    except ImportError:
        return True
    handle = display("starting...", display_id=True)
    return lambda line: handle.update(line) if handle is not None else None


# -- calling the API -----------------------------------------------------------------------------


# -- keeping the notebooks' repository address in step ------------------------------------------


def repository_url(pyproject: str | Path | None = None) -> str:
    """The repository address declared in pyproject.toml (``[project.urls] Repository``)."""
    import tomllib

    path = Path(pyproject) if pyproject else project_root() / "pyproject.toml"
    return str(tomllib.loads(path.read_text())["project"]["urls"]["Repository"]).rstrip("/")


def stamp_repository(notebooks_dir: str | Path, url: str) -> list[Path]:
    """Point every notebook's Colab badge and ``repo_url`` parameter at ``url``; returns the
    notebooks changed. Run after changing ``[project.urls] Repository``."""
    import re

    import nbformat

    changed = []
    github = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+")
    colab = re.compile(r"(colab\.research\.google\.com/github/)[\w.-]+/[\w.-]+(/blob/)")
    slug = url.removeprefix("https://github.com/")
    for path in sorted(Path(notebooks_dir).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        before = [cell.source for cell in nb.cells]
        for cell in nb.cells:
            cell.source = colab.sub(rf"\g<1>{slug}\g<2>", cell.source)
            if "repo_url" in cell.source:
                cell.source = github.sub(url, cell.source)
        if [cell.source for cell in nb.cells] != before:
            nbformat.write(nb, path)
            changed.append(path)
    return changed


if __name__ == "__main__":  # python -m recsys.pipeline.notebook: stamp the notebooks from pyproject

    for stamped in stamp_repository(find_notebooks_dir(), repository_url()):
        print(f"stamped {stamped}")
